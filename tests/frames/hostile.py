#!/usr/bin/env python3
"""Crafted frames sent straight into `georep secondary DIR`.

Each case runs a fresh secondary in a scratch directory next to an `outside`
directory, sends a HELLO and then the hostile request(s), and checks that
  - a malformed frame makes the secondary drop the connection (exit 76) and
    a well-formed but dangerous one is refused with an error reply;
  - nothing was written outside DIR (the outside directory is unchanged).
Some cases talk to the secondary in two steps: a directory it made in the
first is replaced by a symlink to the outside directory before the second,
whose requests name it as their parent (they must not follow it).  And a
frame of every type byte that names no request (0, 19..63, 65..255) drops
the connection.
Usage: hostile.py GEOREP SCRATCH
"""
import os
import struct
import subprocess
import sys

from wire import MSG, ESTALE, PROTO_VERSION, bstr, frame, oref, u8, u32, u64

GEOREP, SCRATCH = sys.argv[1], sys.argv[2]
failures = 0


def attrs(mode=0o644):
    return u32(0x1 | 0x4) + u32(mode) + u32(0) + u32(0) + u64(1) + u32(0)


def hello():
    return frame(MSG['HELLO'], 1, u32(PROTO_VERSION) +
                 bstr(b'fid:test-volume') + u32(0))


def snapshot(path):
    out = []
    for dp, dn, fn in os.walk(path):
        for n in dn + fn:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            out.append((p, st.st_mode, st.st_size, st.st_mtime_ns))
    st = os.lstat(path)
    return sorted(out), st.st_mtime_ns


def run(name, requests, expect, setup=None, check=None):
    """expect: 'drop' (connection dropped, exit 76) or a list of expected
    reply errnos (0 = success, None = any error) for requests after HELLO."""
    global failures
    case = os.path.join(SCRATCH, name)
    sec = os.path.join(case, 'sec')
    outside = os.path.join(case, 'outside')
    os.makedirs(sec)
    os.makedirs(outside)
    with open(os.path.join(outside, 'victim'), 'w') as f:
        f.write('untouched\n')
    if setup:
        setup(sec, outside)
    before = snapshot(outside)
    data = hello() + b''.join(requests)
    p = subprocess.run([GEOREP, 'secondary', sec], input=data,
                       capture_output=True, timeout=30)
    replies = []
    buf = p.stdout
    while len(buf) >= 9:
        n, t, rid = struct.unpack('<IBI', buf[:9])
        body = buf[9:4 + n]
        err, val = struct.unpack('<IQ', body[:12])
        replies.append(err)
        buf = buf[4 + n:]
    problems = []
    if snapshot(outside) != before:
        problems.append('something changed outside DIR')
    if expect == 'drop':
        if p.returncode != 76:
            problems.append('exit %d, expected 76 (dropped)' % p.returncode)
        if b'protocol error' not in p.stderr:
            problems.append('no "protocol error" message')
    else:
        got = replies[1:]
        if len(got) != len(expect):
            problems.append('replies %r, expected %r' % (got, expect))
        for g, e in zip(got, expect):
            if (e is None and g == 0) or (e is not None and g != e):
                problems.append('replies %r, expected %r' % (got, expect))
                break
    if check:
        msg = check(sec, outside)
        if msg:
            problems.append(msg)
    if problems:
        failures += 1
        print('FAIL %s: %s\n  stderr: %s' % (name, '; '.join(problems),
              p.stderr.decode(errors='replace').strip()))
    else:
        print('ok   %s' % name)


def plant_symlink(sec, outside):
    # Bound to our test volume, so HELLO accepts a non-empty root.
    os.makedirs(os.path.join(sec, '.georep'))
    with open(os.path.join(sec, '.georep', 'volume'), 'w') as f:
        f.write('fid:test-volume')
    os.symlink(outside, os.path.join(sec, 'evil'))
    os.symlink(os.path.join(outside, 'victim'), os.path.join(sec, 'vlink'))


def nothing_at(*rel):
    def check(sec, outside):
        for r in rel:
            if os.path.lexists(os.path.join(sec, r)):
                return '%s was created' % r
    return check


MK = MSG['MKDIR']
run('mkdir-slash-in-name', [frame(MK, 2, oref(b'', b'a/b') + u32(0o755))],
    'drop', check=nothing_at('a'))
# The keep-alive: answered, and nothing else; a payload is a violation.
run('ping', [frame(MSG['PING'], 2, b''), frame(MSG['PING'], 3, b'')], [0, 0])
run('ping-with-payload', [frame(MSG['PING'], 2, u32(7))], 'drop')
run('mkdir-dotdot', [frame(MK, 2, oref(b'', b'..') + u32(0o755))], 'drop')
run('mkdir-dot', [frame(MK, 2, oref(b'', b'.') + u32(0o755))], 'drop')
run('mkdir-empty-name', [frame(MK, 2, oref(b'', b'') + u32(0o755))], 'drop')
run('mkdir-nul-in-name', [frame(MK, 2, oref(b'', b'a\0b') + u32(0o755))],
    'drop')
run('mkdir-long-name', [frame(MK, 2, oref(b'', b'x' * 256) + u32(0o755))],
    'drop')
run('mkdir-absolute-parent',
    [frame(MK, 2, oref(b'/tmp', b'x') + u32(0o755))], 'drop')
run('mkdir-dotdot-parent',
    [frame(MK, 2, oref(b'../outside', b'x') + u32(0o755))], 'drop')
run('mkdir-empty-component',
    [frame(MK, 2, oref(b'a//b', b'x') + u32(0o755))], 'drop')
run('mkdir-bad-base', [frame(MK, 2, oref(b'', b'x', base=7) + u32(0o755))],
    'drop')
run('state-dir-as-name',
    [frame(MSG['RMTREE'], 2, oref(b'', b'.georep') + u64(0))], 'drop')
run('state-dir-as-parent',
    [frame(MSG['UNLINK'], 2, oref(b'.georep', b'volume') + u64(0))], 'drop',
    check=lambda s, o: None if os.path.exists(
        os.path.join(s, '.georep', 'volume')) else 'volume removed')


def put_req(parent, name, sino, flags, size, mode=0o644, psino=0):
    return frame(MSG['PUT'], 2, oref(parent, name, psino=psino) + u64(sino) +
                 u32(flags) + u64(size) + u32(mode))


def listdir(path, sino=0, after=b''):
    return frame(MSG['LISTDIR'], 2, u8(0) + bstr(path) + u64(sino) +
                 bstr(after))


def plant_dir(sec, outside):
    plant_symlink(sec, outside)
    os.makedirs(os.path.join(sec, 'd'))


run('put-mode-with-type-bits', [put_req(b'', b'f', 0, 0, 1, mode=0o100644)],
    'drop', check=nothing_at('f'))
run('listdir-state-dir', [listdir(b'.georep')], 'drop')
run('listdir-dotdot', [listdir(b'..')], 'drop')
run('listdir-through-symlink', [listdir(b'evil')], [None],
    setup=plant_symlink)
# A directory that is not the inode the primary names: refused, not listed
# (the primary would take its entries for another directory's).
run('listdir-other-inode', [listdir(b'd', sino=1)], [ESTALE],
    setup=plant_dir)
# The same for every operation's parent: whatever directory sits at the
# path now is not written, and the reply says ESTALE.
run('mkdir-parent-other-inode',
    [frame(MK, 2, oref(b'd', b'x', psino=1) + u32(0o755))], [ESTALE],
    setup=plant_dir, check=nothing_at('d/x'))
run('put-parent-other-inode',
    [put_req(b'd', b'f', 0, 0, 2, psino=1),
     frame(MSG['DATA'], 2, u64(0) + bstr(b'hi')),
     frame(MSG['PUT_END'], 2, attrs())], [ESTALE],
    setup=plant_dir, check=nothing_at('d/f'))
run('rename-dst-parent-other-inode',
    [frame(MK, 2, oref(b'', b'x') + u32(0o755)),
     frame(MSG['RENAME'], 3, oref(b'', b'x') + u64(0) +
           oref(b'd', b'x', psino=1))], [0, ESTALE],
    setup=plant_dir, check=nothing_at('d/x'))
run('unlink-parent-other-inode',
    [frame(MK, 2, oref(b'd', b'x') + u32(0o755)),
     frame(MSG['RMTREE'], 3, oref(b'd', b'x', psino=1) + u64(0))],
    [0, ESTALE], setup=plant_dir,
    check=lambda s, o: None if os.path.isdir(os.path.join(s, 'd', 'x'))
    else 'd/x was removed')
run('mkdir-through-symlink',
    [frame(MK, 2, oref(b'evil', b'x') + u32(0o755))], [None],
    setup=plant_symlink)
run('mkdir-through-symlink-deeper',
    [frame(MK, 2, oref(b'evil/sub', b'x') + u32(0o755))], [None],
    setup=plant_symlink)
run('put-through-symlink',
    [put_req(b'evil', b'victim', 0, 0, 4),
     frame(MSG['DATA'], 2, u64(0) + bstr(b'PWND')),
     frame(MSG['PUT_END'], 2, attrs())], [None], setup=plant_symlink)
run('put-inplace-on-symlink',
    [put_req(b'', b'vlink', 0, 1, 4),
     frame(MSG['DATA'], 2, u64(0) + bstr(b'PWND')),
     frame(MSG['PUT_END'], 2, attrs())], [None], setup=plant_symlink)
# In place onto a FIFO (or a device): refused before it is opened for
# writing, which would block (or run the driver's open).
run('put-inplace-on-fifo',
    [frame(MSG['MKNOD'], 2, oref(b'', b'fifo') + u32(0o010644) + u64(0)),
     put_req(b'', b'fifo', 0, 1, 4),
     frame(MSG['DATA'], 2, u64(0) + bstr(b'PWND')),
     frame(MSG['PUT_END'], 2, attrs())], [0, ESTALE])
run('put-replaces-symlink-not-target',
    [put_req(b'', b'vlink', 0, 0, 4),
     frame(MSG['DATA'], 2, u64(0) + bstr(b'safe')),
     frame(MSG['PUT_END'], 2, attrs())], [0], setup=plant_symlink,
    check=lambda s, o: None if open(os.path.join(s, 'vlink')).read() == 'safe'
    and not os.path.islink(os.path.join(s, 'vlink')) else 'vlink not replaced')
run('data-beyond-size',
    [put_req(b'', b'f', 0, 0, 2),
     frame(MSG['DATA'], 2, u64(0) + bstr(b'toolong'))], 'drop',
    check=nothing_at('f'))
run('rename-into-symlinked-dir',
    [frame(MK, 2, oref(b'', b'd') + u32(0o755)),
     frame(MSG['RENAME'], 3, oref(b'', b'd') + u64(0) + oref(b'evil', b'd'))],
    [0, None], setup=plant_symlink)
run('link-into-symlinked-dir',
    [frame(MSG['SYMLINK'], 2, oref(b'', b's') + bstr(b'target')),
     frame(MSG['LINK'], 3, oref(b'', b's') + u64(0) + oref(b'evil', b's'))],
    [0, None], setup=plant_symlink)
run('setattr-symlink-not-followed',
    [frame(MSG['SETATTR'], 2, oref(b'', b'vlink') + u64(0) + attrs(0o777))],
    [0], setup=plant_symlink,
    check=lambda s, o: None if os.stat(os.path.join(o, 'victim')).st_mode
    & 0o777 != 0o777 else 'chmod followed the symlink')
run('symlink-target-stored-not-followed',
    [frame(MSG['SYMLINK'], 2, oref(b'', b'p') + bstr(b'/etc/passwd')),
     frame(MSG['UNLINK'], 3, oref(b'', b'p') + u64(0))], [0, 0])
run('rmtree-does-not-follow',
    [frame(MSG['RMTREE'], 2, oref(b'', b'evil') + u64(0))], [0],
    setup=plant_symlink,
    check=lambda s, o: None if os.path.exists(os.path.join(o, 'victim'))
    else 'rmtree followed the symlink')
run('oversized-frame', [u32(0xffffffff) + u8(2) + u32(2)], 'drop')
run('frame-above-max', [u32((4 << 20) + 1) + u8(2) + u32(2)], 'drop')
run('frame-below-header', [u32(3) + b'abc'], 'drop')
run('truncated-frame', [u32(100) + u8(2) + u32(2) + b'short'], 'drop')
run('trailing-bytes',
    [frame(MK, 2, oref(b'', b'x') + u32(0o755) + b'junk')], 'drop',
    check=nothing_at('x'))
run('unknown-type', [frame(200, 2, b'')], 'drop')
run('reply-type-from-primary', [frame(MSG['REPLY'], 2, u32(0) + u64(0) +
                                      bstr(b''))], 'drop')
run('second-hello', [hello()], 'drop')
run('data-outside-put', [frame(MSG['DATA'], 2, u64(0) + bstr(b'x'))], 'drop')
run('other-op-inside-put',
    [put_req(b'', b'f', 0, 0, 1),
     frame(MK, 3, oref(b'', b'x') + u32(0o755))], 'drop',
    check=nothing_at('f', 'x'))
run('bad-mode-bits',
    [frame(MSG['SETATTR'], 2, oref(b'', b'x') + u64(0) + u32(1) +
           u32(0o170000) + u32(0) + u32(0) + u64(0) + u32(0))], 'drop')
run('xattr-outside-namespaces',
    [frame(MSG['SETATTR'], 2, oref(b'', b'x') + u64(0) + u32(8) + u32(0) +
           u32(0) + u32(0) + u64(0) + u32(0) + u32(1) +
           bstr(b'security.selinux') + bstr(b'x'))], 'drop')


# ---- a symlink planted in a parent between two requests ----

def read_replies(stream, n):
    """The next n replies on stream: (errno, value) each."""
    out = []
    for _ in range(n):
        head = stream.read(4)
        if len(head) < 4:
            break
        body = stream.read(struct.unpack('<I', head)[0])
        err, val = struct.unpack('<IQ', body[5:17])
        out.append((err, val))
    return out


def swap_for_symlink(sec, outside):
    """The secondary's directory d, made by the first request, replaced
    by a symlink to outside (the old one kept aside)."""
    os.rename(os.path.join(sec, 'd'), os.path.join(sec, 'd.old'))
    os.symlink(outside, os.path.join(sec, 'd'))


def run_swapped(name, second, expect=(None,)):
    """HELLO and MKDIR d, answered; then d swapped for a symlink to the
    outside directory; then second(sino): requests, the last naming d as
    its parent, given d's inode number from the MKDIR reply (sino) or 0
    (any).  The replies to them as expect says (0 done, None an error: the
    last one always), and nothing outside changed."""
    global failures
    case = os.path.join(SCRATCH, name)
    sec = os.path.join(case, 'sec')
    outside = os.path.join(case, 'outside')
    os.makedirs(sec)
    os.makedirs(outside)
    with open(os.path.join(outside, 'victim'), 'w') as f:
        f.write('untouched\n')
    before = snapshot(outside)
    p = subprocess.Popen([GEOREP, 'secondary', sec], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(hello() + frame(MK, 2, oref(b'', b'd') + u32(0o755)))
    p.stdin.flush()
    first = read_replies(p.stdout, 2)
    problems = []
    if [e for e, _ in first] != [0, 0]:
        problems.append('HELLO and MKDIR d: %r' % first)
    else:
        swap_for_symlink(sec, outside)
        p.stdin.write(b''.join(second(first[1][1])))
    p.stdin.close()
    got = [e for e, _ in read_replies(p.stdout, len(expect))]
    err = p.stderr.read()
    p.wait(timeout=30)
    if len(got) != len(expect) or any((e is None) != (g != 0)
                                      for g, e in zip(got, expect)):
        problems.append('replies %r, expected %r' % (got, list(expect)))
    if snapshot(outside) != before:
        problems.append('something changed outside DIR')
    if problems:
        failures += 1
        print('FAIL %s: %s\n  stderr: %s' % (name, '; '.join(problems),
              err.decode(errors='replace').strip()))
    else:
        print('ok   %s' % name)


# With d's inode number (the primary's index knows it) and with 0 (any):
# either way the symlink now at d is never followed.
for label, use_sino in (('sino', True), ('any', False)):
    def ps(sino, use=use_sino):
        return sino if use else 0
    run_swapped('swapped-parent-put-' + label, lambda sino, ps=ps: [
        put_req(b'd', b'victim', 0, 0, 4, psino=ps(sino)),
        frame(MSG['DATA'], 3, u64(0) + bstr(b'PWND')),
        frame(MSG['PUT_END'], 3, attrs(0o777))],)
    run_swapped('swapped-parent-inplace-' + label, lambda sino, ps=ps: [
        put_req(b'd', b'victim', 0, 1, 4, psino=ps(sino)),
        frame(MSG['DATA'], 3, u64(0) + bstr(b'PWND')),
        frame(MSG['PUT_END'], 3, attrs(0o777))],)
    run_swapped('swapped-parent-mkdir-' + label, lambda sino, ps=ps: [
        frame(MK, 3, oref(b'd', b'x', psino=ps(sino)) + u32(0o755))],)
    run_swapped('swapped-parent-unlink-' + label, lambda sino, ps=ps: [
        frame(MSG['UNLINK'], 3, oref(b'd', b'victim', psino=ps(sino)) +
              u64(0))],)
    run_swapped('swapped-parent-setattr-' + label, lambda sino, ps=ps: [
        frame(MSG['SETATTR'], 3, oref(b'd', b'victim', psino=ps(sino)) +
              u64(0) + attrs(0o777))],)
    run_swapped('swapped-parent-rename-into-' + label, lambda sino, ps=ps: [
        frame(MSG['SYMLINK'], 3, oref(b'', b's') + bstr(b't')),
        frame(MSG['COMMIT'], 4, u64(0) + u32(1)),
        frame(MSG['RENAME'], 5, oref(b'', b's') + u64(0) +
              oref(b'd', b's', psino=ps(sino)))], (0, 0, None))
    run_swapped('swapped-parent-listdir-' + label, lambda sino, ps=ps: [
        listdir(b'd', sino=ps(sino))],)

# ---- every type byte that names no request: the connection dropped ----

unknown = [0] + list(range(21, 64)) + list(range(65, 256))
bad = []
for t in unknown:
    case = os.path.join(SCRATCH, 'type-%d' % t)
    os.makedirs(case)
    p = subprocess.run([GEOREP, 'secondary', os.path.join(case, 'sec')],
                       input=hello() + frame(t, 2, u32(0)),
                       capture_output=True, timeout=30)
    if p.returncode != 76 or b'unknown frame type %d' % t not in p.stderr:
        bad.append('%d (exit %d)' % (t, p.returncode))
if bad:
    failures += 1
    print('FAIL unknown-types: not dropped: %s' % ', '.join(bad))
else:
    print('ok   unknown-types (%d type bytes, each dropped)' % len(unknown))

# A request before HELLO.
case = os.path.join(SCRATCH, 'before-hello')
os.makedirs(case)
p = subprocess.run([GEOREP, 'secondary', os.path.join(case, 'sec')],
                   input=frame(MK, 1, oref(b'', b'x') + u32(0o755)),
                   capture_output=True, timeout=30)
if p.returncode != 76 or os.path.exists(os.path.join(case, 'sec', 'x')):
    failures += 1
    print('FAIL before-hello: exit %d' % p.returncode)
else:
    print('ok   before-hello')

print('%d hostile cases failed' % failures)
sys.exit(1 if failures else 0)
