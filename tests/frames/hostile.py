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
frame of every type byte that names no request (0, 22..63, 65..255) drops
the connection.  Compressed blocks (ZBLOCK, made with the zstd command) are
handled only after a HELLO with HELLO_COMPRESS, and a bomb, a block without
its size or checksum, a cut frame inside, a block in a block, are dropped.
The requests of `georep verify` (VLIST, DIGEST) are held to the same rules,
and a read-only connection (HELLO_READONLY) is held to its word: a request
that would write is a protocol error even after reads that succeeded, and
nothing is made, not even the state directory or a missing root; what is
not a regular file is never opened for a DIGEST (a device's driver is not
run); unknown HELLO flags are refused.
Usage: hostile.py GEOREP SCRATCH
"""
import os
import socket
import struct
import subprocess
import sys

from wire import MSG, ESTALE, PROTO_VERSION, bstr, frame, oref, u8, u32, u64

GEOREP, SCRATCH = sys.argv[1], sys.argv[2]
failures = 0


def attrs(mode=0o644):
    return u32(0x1 | 0x4) + u32(mode) + u32(0) + u32(0) + u64(1) + u32(0)


HELLO_READONLY = 0x2


def hello(flags=0):
    return frame(MSG['HELLO'], 1, u32(PROTO_VERSION) +
                 bstr(b'fid:test-volume') + u32(flags))


def snapshot(path):
    out = []
    for dp, dn, fn in os.walk(path):
        for n in dn + fn:
            p = os.path.join(dp, n)
            st = os.lstat(p)
            out.append((p, st.st_mode, st.st_size, st.st_mtime_ns))
    st = os.lstat(path)
    return sorted(out), st.st_mtime_ns


def run(name, requests, expect, setup=None, check=None, flags=0, said=None):
    """expect: 'drop' (connection dropped, exit 76) or a list of expected
    reply errnos (0 = success, None = any error) for requests after HELLO
    (said with the HELLO flags given); said: what stderr must hold."""
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
    data = hello(flags) + b''.join(requests)
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
    if said is not None and said.encode() not in p.stderr:
        problems.append('stderr does not say %r' % said)
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

# ---- georep verify: HELLO_READONLY, VLIST and DIGEST ----

def vlist(path, after=b''):
    return frame(MSG['VLIST'], 2, bstr(path) + bstr(after))


def digest(parent, name, sino=0, base=0):
    return frame(MSG['DIGEST'], 2, oref(parent, name, base=base) + u64(sino))


def bound_tree(sec, outside):
    """A replica as a sync leaves it: bound, a file, a directory, a
    symlink, a fifo (and, as root, a tty device node)."""
    plant_symlink(sec, outside)
    with open(os.path.join(sec, 'file'), 'w') as f:
        f.write('content\n')
    os.makedirs(os.path.join(sec, 'd'))
    with open(os.path.join(sec, 'd', 'inner'), 'w') as f:
        f.write('x')
    os.mkfifo(os.path.join(sec, 'fifo'))
    if os.geteuid() == 0:
        # /dev/tty: opening it without a controlling terminal fails with
        # ENXIO, so an error other than EINVAL means the driver was run.
        os.mknod(os.path.join(sec, 'tty'), 0o600 | 0o020000,
                 os.makedev(5, 0))


# The secondary's tree as ro_tree left it, by directory: ro_unchanged
# checks that the requests changed nothing in it.
SEC_BEFORE = {}


def ro_tree(sec, outside):
    bound_tree(sec, outside)
    SEC_BEFORE[sec] = snapshot(sec)


def ro_unchanged(sec, outside):
    if snapshot(sec) != SEC_BEFORE.get(sec):
        return 'the secondary changed on a read-only connection'

# Before HELLO, and malformed: the connection dropped, as for any request.
for t in ('VLIST', 'DIGEST'):
    case = os.path.join(SCRATCH, 'before-hello-' + t.lower())
    os.makedirs(case)
    req = vlist(b'') if t == 'VLIST' else digest(b'', b'f')
    p = subprocess.run([GEOREP, 'secondary', os.path.join(case, 'sec')],
                       input=req, capture_output=True, timeout=30)
    if p.returncode != 76 or b'%s before HELLO' % t.encode() not in p.stderr:
        failures += 1
        print('FAIL before-hello-%s: exit %d, stderr %s' % (
            t.lower(), p.returncode, p.stderr.decode(errors='replace')))
    else:
        print('ok   before-hello-%s' % t.lower())
for flags in (0, HELLO_READONLY):
    sfx = '-ro' if flags else ''
    run('vlist-trailing-bytes' + sfx, [vlist(b'') + b'junk'], 'drop',
        flags=flags)
    run('vlist-dotdot' + sfx, [vlist(b'..')], 'drop', flags=flags)
    run('vlist-absolute' + sfx, [vlist(b'/etc')], 'drop', flags=flags)
    run('vlist-after-not-a-name' + sfx, [vlist(b'', after=b'a/b')], 'drop',
        flags=flags)
    run('vlist-nul-in-path' + sfx, [vlist(b'd\0x')], 'drop', flags=flags)
    run('vlist-state-dir' + sfx, [vlist(b'.georep')], 'drop', flags=flags)
    run('vlist-in-state-dir' + sfx, [vlist(b'.georep/stage')], 'drop',
        flags=flags)
    run('vlist-cut-short' + sfx,
        [frame(MSG['VLIST'], 2, u32(10) + b'abc')], 'drop', flags=flags)
    run('digest-no-sino' + sfx,
        [frame(MSG['DIGEST'], 2, oref(b'', b'file'))], 'drop', flags=flags)
    run('digest-trailing-bytes' + sfx,
        [digest(b'', b'file') + b'x'], 'drop', flags=flags)
    run('digest-staging-base' + sfx, [digest(b'', b'file', base=1)], 'drop',
        flags=flags)
    run('digest-state-dir' + sfx, [digest(b'.georep', b'volume')], 'drop',
        flags=flags)
    run('digest-dotdot' + sfx, [digest(b'..', b'outside')], 'drop',
        flags=flags)

# Unknown HELLO flag bits: refused, and nothing made.
for bit in (0x10, 0x80000000):
    run('hello-unknown-flag-%#x' % bit, [], 'drop', flags=bit,
        check=nothing_at('.georep'))
    run('hello-unknown-flag-%#x-ro' % bit, [], 'drop',
        flags=bit | HELLO_READONLY, check=nothing_at('.georep'))

# After a read-only HELLO every request that writes is a protocol error:
# the connection dropped, nothing made, removed or changed.
writes = [
    ('mkdir', frame(MK, 2, oref(b'', b'new') + u32(0o755))),
    ('symlink', frame(MSG['SYMLINK'], 2, oref(b'', b'new') + bstr(b't'))),
    ('mknod', frame(MSG['MKNOD'], 2, oref(b'', b'new') + u32(0o010644) +
                    u64(0))),
    ('link', frame(MSG['LINK'], 2, oref(b'', b'file') + u64(0) +
                   oref(b'', b'new'))),
    ('rename', frame(MSG['RENAME'], 2, oref(b'', b'file') + u64(0) +
                     oref(b'', b'new'))),
    ('unlink', frame(MSG['UNLINK'], 2, oref(b'', b'file') + u64(0))),
    ('rmtree', frame(MSG['RMTREE'], 2, oref(b'', b'd') + u64(0))),
    ('put', put_req(b'', b'new', 0, 0, 2) +
     frame(MSG['DATA'], 2, u64(0) + bstr(b'hi')) +
     frame(MSG['PUT_END'], 2, attrs())),
    ('put-inplace', put_req(b'', b'file', 0, 1, 2) +
     frame(MSG['DATA'], 2, u64(0) + bstr(b'hi')) +
     frame(MSG['PUT_END'], 2, attrs())),
    ('data', frame(MSG['DATA'], 2, u64(0) + bstr(b'x'))),
    ('put-end', frame(MSG['PUT_END'], 2, attrs())),
    ('put-abort', frame(MSG['PUT_ABORT'], 2, b'')),
    ('setattr', frame(MSG['SETATTR'], 2, oref(b'', b'file') + u64(0) +
                      attrs(0o777))),
    ('commit', frame(MSG['COMMIT'], 2, u64(12345) + u32(0))),
    ('reset', frame(MSG['RESET'], 2, b'')),
    ('hello', hello(HELLO_READONLY)),
]
for label, req in writes:
    run('readonly-' + label, [req], 'drop', setup=ro_tree,
        check=ro_unchanged, flags=HELLO_READONLY)
    # The same after reads that succeeded: still refused.
    run('readonly-after-reads-' + label,
        [vlist(b''), digest(b'', b'file'), req], 'drop', setup=ro_tree,
        check=ro_unchanged, flags=HELLO_READONLY)


def talk(name, sec, requests, flags=HELLO_READONLY):
    """HELLO (with flags) and requests into a secondary of sec: its exit
    status, stderr and replies, each (errno, value, data)."""
    p = subprocess.run([GEOREP, 'secondary', sec],
                       input=hello(flags) + b''.join(requests),
                       capture_output=True, timeout=30)
    out = []
    buf = p.stdout
    while len(buf) >= 9:
        n = struct.unpack('<I', buf[:4])[0]
        body = buf[9:4 + n]
        err, val = struct.unpack('<IQ', body[:12])
        dlen = struct.unpack('<I', body[12:16])[0]
        out.append((err, val, body[16:16 + dlen]))
        buf = buf[4 + n:]
    return p.returncode, p.stderr, out


def case_dirs(name, setup=None):
    case = os.path.join(SCRATCH, name)
    sec = os.path.join(case, 'sec')
    outside = os.path.join(case, 'outside')
    os.makedirs(sec)
    os.makedirs(outside)
    with open(os.path.join(outside, 'victim'), 'w') as f:
        f.write('untouched\n')
    if setup:
        setup(sec, outside)
    return sec, outside


def report(name, problems, stderr):
    global failures
    if problems:
        failures += 1
        print('FAIL %s: %s\n  stderr: %s' % (name, '; '.join(problems),
              stderr.decode(errors='replace').strip()))
    else:
        print('ok   %s' % name)


def vlist_names(data):
    """The names of a VLIST page (proto.h, struct vlist_entry)."""
    names, off = [], 0
    while off < len(data):
        off += 8 + 4 * 4 + 8 * 3 + 4 + 8 + 4
        n = struct.unpack_from('<I', data, off)[0]
        names.append(data[off + 4:off + 4 + n])
        off += 4 + n
        t = struct.unpack_from('<I', data, off)[0]
        off += 4 + t + 4
        nx = struct.unpack_from('<I', data, off)[0]
        off += 4
        for _ in range(nx):
            xl = struct.unpack_from('<I', data, off)[0]
            off += 4 + xl + 4 + 16
    return names


# A read-only connection reads: the root's listing (the root itself first,
# without .georep), a
# directory's, a file's digest (its size as the value, 16 bytes); what is
# not a regular file has no digest (an error reply, and the connection
# goes on); a missing name, a symlinked parent are errors too.
name = 'readonly-reads'
sec, outside = case_dirs(name, ro_tree)
reqs = [vlist(b''), vlist(b'd'), digest(b'', b'file'),
        digest(b'', b'file', sino=os.lstat(os.path.join(sec, 'file')).st_ino),
        digest(b'', b'file', sino=1),
        digest(b'', b'vlink'), digest(b'', b'evil'), digest(b'', b'd'),
        digest(b'', b'fifo'), digest(b'', b'nosuch'),
        digest(b'evil', b'victim'), vlist(b'evil'), vlist(b'file'),
        vlist(b'nosuch'), frame(MSG['PING'], 3, b'')]
labels = ['vlist root', 'vlist d', 'digest file', 'digest file (sino)',
          'digest file (another sino)', 'digest symlink',
          'digest symlink to a directory', 'digest directory',
          'digest fifo', 'digest missing', 'digest through a symlink',
          'vlist a symlink', 'vlist a file', 'vlist missing', 'ping']
if os.geteuid() == 0:
    reqs.insert(-1, digest(b'', b'tty'))
    labels.insert(-1, 'digest tty device')
rc, err, rep = talk(name, sec, reqs)
problems = []
if rc != 0:
    problems.append('exit %d' % rc)
got = dict(zip(labels, rep[1:]))
if len(rep) != len(reqs) + 1:
    problems.append('%d replies to %d requests' % (len(rep) - 1, len(reqs)))
else:
    root_names = vlist_names(got['vlist root'][2])
    # The root itself first, then its names in order, no .georep.
    want = [b'.'] + sorted([b'd', b'evil', b'fifo', b'file', b'vlink'] +
                           ([b'tty'] if os.geteuid() == 0 else []))
    if got['vlist root'][0] != 0 or root_names != want:
        problems.append('root listing %r, expected %r' % (root_names, want))
    if got['vlist d'][0] != 0 or vlist_names(got['vlist d'][2]) != [b'inner']:
        problems.append('listing of d: %r' % (got['vlist d'],))
    for lab in ('digest file', 'digest file (sino)'):
        e, v, d = got[lab]
        if e != 0 or v != 8 or len(d) != 16:
            problems.append('%s: %r' % (lab, got[lab]))
    if got['digest file'][2] != got['digest file (sino)'][2]:
        problems.append('two digests of one file differ')
    if got['digest file (another sino)'][0] != ESTALE:
        problems.append('digest with another sino: %r' %
                        (got['digest file (another sino)'],))
    for lab in labels[5:-1]:
        e, v, d = got[lab]
        if e == 0:
            problems.append('%s answered %r, not an error' % (lab, got[lab]))
    # Not opened to be looked at: a device's driver is never run.
    for lab in ('digest fifo', 'digest directory', 'digest tty device'):
        if lab in got and got[lab][0] != 22:
            problems.append('%s: errno %d, expected EINVAL (not a regular '
                            'file, found without opening it)' %
                            (lab, got[lab][0]))
    if got['ping'][0] != 0:
        problems.append('the PING after them: %r' % (got['ping'],))
if os.path.lexists(os.path.join(sec, '.georep', 'stage')):
    problems.append('a read-only connection made .georep/stage')
report(name, problems, err)

# A read-only HELLO makes nothing: not the state directory in an empty or
# a populated directory, not the directory itself when it is missing (the
# HELLO is refused, ENOENT); a bound secondary's .georep is left as it is.
name = 'readonly-makes-nothing'
problems = []
sec, outside = case_dirs(name)
rc, err, rep = talk(name, sec, [vlist(b''), frame(MSG['BYE'], 3, b'')])
if rc != 0 or [r[0] for r in rep] != [0, 0, 0]:
    problems.append('empty: exit %d, replies %r' % (rc, rep))
if os.listdir(sec):
    problems.append('empty: made %r' % os.listdir(sec))
with open(os.path.join(sec, 'f'), 'w') as f:
    f.write('x')
rc, err2, rep = talk(name, sec, [vlist(b''), digest(b'', b'f')])
err += err2
if rc != 0 or [r[0] for r in rep] != [0, 0, 0]:
    problems.append('populated: exit %d, replies %r' % (rc, rep))
if os.listdir(sec) != ['f']:
    problems.append('populated: made %r' % os.listdir(sec))
missing = os.path.join(os.path.dirname(sec), 'missing')
rc, err2, rep = talk(name, missing, [vlist(b'')])
err += err2
if os.path.lexists(missing):
    problems.append('a read-only HELLO made the missing directory')
if not rep or rep[0][0] != 2:
    problems.append('missing: HELLO answered %r, expected ENOENT' % (rep,))
report(name, problems, err)

# A read-only HELLO to a tree bound to another primary is answered (verify
# compares any two trees), and its binding is left as it is.
name = 'readonly-other-primary'
problems = []
sec, outside = case_dirs(name)
os.makedirs(os.path.join(sec, '.georep'))
with open(os.path.join(sec, '.georep', 'volume'), 'w') as f:
    f.write('fid:another-volume')
rc, err, rep = talk(name, sec, [vlist(b'')])
if rc != 0 or [r[0] for r in rep] != [0, 0]:
    problems.append('exit %d, replies %r' % (rc, rep))
with open(os.path.join(sec, '.georep', 'volume')) as f:
    if f.read() != 'fid:another-volume':
        problems.append('the binding changed')
if sorted(os.listdir(os.path.join(sec, '.georep'))) != ['volume']:
    problems.append('.georep holds %r' %
                    os.listdir(os.path.join(sec, '.georep')))
report(name, problems, err)

# LISTDIR of the staging area on a read-only connection (which has none):
# an error, not a crash.
run('readonly-listdir-staging',
    [frame(MSG['LISTDIR'], 2, u8(1) + bstr(b'') + u64(0) + bstr(b'')),
     frame(MSG['PING'], 3, b'')], [None, 0], setup=ro_tree,
    check=ro_unchanged, flags=HELLO_READONLY)

# ---- deltas: SIGNATURE and PUT_DELTA ----

PUT_INPLACE, PUT_DELTA = 0x1, 0x2
EBADMSG, EINVAL, ENOENT = 74, 22, 2
# librsync's delta format: a magic, then commands (END is 0, LITERAL_N1
# 0x41 with a u8 length, COPY_N1_N1 0x45 with a u8 offset and length).
RS_DELTA = b'rs\x026'


def signature(parent, name, sino=0, first=0):
    return frame(MSG['SIGNATURE'], 2, oref(parent, name) + u64(sino) +
                 u64(first))


def data(off, b):
    return frame(MSG['DATA'], 2, u64(off) + bstr(b))


def put_end_hash(h=b'\0' * 16):
    return frame(MSG['PUT_END'], 2, attrs() + h)


def file_kept(sec, outside):
    with open(os.path.join(sec, 'file')) as f:
        if f.read() != 'content\n':
            return 'the old copy changed'
    extra = set(os.listdir(sec)) - {'.georep', 'evil', 'vlink', 'file', 'd',
                                    'fifo', 'tty'}
    if extra:
        return 'left behind: %r' % sorted(extra)


name = 'signature-reads'
sec, outside = case_dirs(name, bound_tree)
ino = os.lstat(os.path.join(sec, 'file')).st_ino
reqs = [signature(b'', b'file'), signature(b'', b'file', sino=ino),
        signature(b'', b'file', sino=ino + 1), signature(b'', b'vlink'),
        signature(b'evil', b'victim'), signature(b'', b'd'),
        signature(b'', b'fifo'), signature(b'', b'nosuch'),
        signature(b'', b'file', first=1), signature(b'', b'file',
                                         first=2**64 - 1)]
rc, err, rep = talk(name, sec, reqs, flags=0)
problems = []
if rc != 0 or len(rep) != len(reqs) + 1:
    problems.append('exit %d, %d replies' % (rc, len(rep)))
else:
    for e, v, d in rep[1:3]:
        # One block: the header and a weak and a 12-byte strong sum.
        if e != 0 or v != 8 or len(d) != 12 + 16 or d[:4] != b'rs\x01G':
            problems.append('signature of file: %r' % ((e, v, d),))
    if rep[3][0] != ESTALE:
        problems.append('another sino: %r' % (rep[3],))
    for (e, v, d), lab in zip(rep[4:], ('symlink', 'through a symlink',
                                        'directory', 'fifo', 'missing',
                                        'page past the end',
                                        'page far past the end')):
        if e == 0:
            problems.append('signature of a %s answered' % lab)
    if rep[6][0] != EINVAL or rep[7][0] != EINVAL:
        problems.append('directory or fifo: %r %r' % (rep[6], rep[7]))
    # A page past the last block.
    if rep[9][0] != EINVAL or rep[10][0] != EINVAL:
        problems.append('past the end: %r %r' % (rep[9], rep[10]))
report(name, problems, err)
run('signature-readonly', [signature(b'', b'file')], 'drop',
    setup=bound_tree, flags=HELLO_READONLY)

# The delta stream is checked: a PUT_DELTA in place, data out of order or
# past what a delta of that size can be, a PUT_END without the hash: the
# connection dropped.  Junk, a delta the hash refuses, a copy past the old
# copy's end, no old copy: refused, the old copy as it was, nothing left.
run('put-delta-out-of-order', [put_req(b'', b'file', 0, PUT_DELTA, 10),
                               data(5, b'x')], 'drop', setup=bound_tree,
    check=file_kept)
run('put-delta-too-long', [put_req(b'', b'file', 0, PUT_DELTA, 0)] +
    [data(i << 18, b'\0' * (1 << 18)) for i in range(5)], 'drop',
    setup=bound_tree, check=file_kept)
run('put-delta-no-hash', [put_req(b'', b'file', 0, PUT_DELTA, 10),
                          data(0, RS_DELTA),
                          frame(MSG['PUT_END'], 2, attrs())], 'drop',
    setup=bound_tree, check=file_kept)
lit = RS_DELTA + b'\x41' + u8(10) + b'0123456789' + b'\0'
for case, delta, size in (
        ('put-delta-junk', b'\xde\xad' * 50, 10),
        ('put-delta-bad-magic', b'rs\x02\x37' + lit[4:], 10),
        ('put-delta-wrong-hash', lit, 10),
        ('put-delta-longer', lit, 9),
        ('put-delta-cut', lit[:-3], 10),
        ('put-delta-after-end', lit + b'more', 10),
        ('put-delta-copy-past-end', RS_DELTA + b'\x45' + u8(200) + u8(10) +
         b'\0', 10)):
    for flags, how in ((PUT_DELTA, ''), (PUT_DELTA | PUT_INPLACE,
                                         '-inplace')):
        run(case + how, [put_req(b'', b'file', 0, flags, size),
                         data(0, delta), put_end_hash(),
                         frame(MSG['PING'], 3, b'')], [EBADMSG, 0],
            setup=bound_tree, check=file_kept)
# In place: the old copy must be the inode the primary names.
run('put-delta-inplace-stale', [put_req(b'', b'file', 1, PUT_DELTA |
                                        PUT_INPLACE, 10),
                                data(0, lit), put_end_hash(),
                                frame(MSG['PING'], 3, b'')], [ESTALE, 0],
    setup=bound_tree, check=file_kept)
run('put-delta-no-basis', [put_req(b'', b'nosuch', 0, PUT_DELTA, 10),
                           data(0, lit), put_end_hash(),
                           frame(MSG['PING'], 3, b'')], [ENOENT, 0],
    setup=bound_tree, check=nothing_at('nosuch'))
run('put-delta-fifo-basis', [put_req(b'', b'fifo', 0, PUT_DELTA, 10),
                             data(0, lit), put_end_hash(),
                             frame(MSG['PING'], 3, b'')], [EINVAL, 0],
    setup=bound_tree, check=file_kept)

# HELLO_ADOPT: a tree that is not empty and never bound is taken over
# (HELLO_ADOPTED, bound: its .georep made); without it, refused untouched.
HELLO_ADOPT = 0x8
name = 'hello-adopt'
problems = []
for flags, want in ((HELLO_ADOPT, 3), (0, None)):
    sec, outside = case_dirs('%s-%d' % (name, flags))
    with open(os.path.join(sec, 'seeded'), 'w') as f:
        f.write('a copy\n')
    rc, err, rep = talk(name, sec, [], flags=flags)
    made = os.path.exists(os.path.join(sec, '.georep', 'volume'))
    if want is not None and (rc != 0 or not rep or rep[0][0] != 0 or
                             rep[0][1] & 0xff != want or not made):
        problems.append('with HELLO_ADOPT: exit %d, %r, bound %s' % (
            rc, rep[:1], made))
    if want is None and (not rep or rep[0][0] != 39 or made):
        problems.append('without: %r, bound %s' % (rep[:1], made))
report(name, problems, b'')

# ---- PUT_COPY: content as a descriptor on the channel of a local secondary

PUT_COPY, HELLO_FDS, EBADF = 0x4, 0x400, 9


def talk_fds(sec, requests, fds, env_fds=True):
    """As talk, with a descriptor channel: the fds go down it first, then
    it is closed; GEOREP_TEST_FDS=1 makes the secondary offer it on any
    filesystem."""
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    env = dict(os.environ)
    env.pop('GEOREP_TEST_FDS', None)
    if env_fds:
        env['GEOREP_TEST_FDS'] = '1'
    p = subprocess.Popen([GEOREP, 'secondary', '--fd-channel',
                          str(theirs.fileno()), sec],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, pass_fds=[theirs.fileno()],
                         env=env)
    theirs.close()
    for fd in fds:
        socket.send_fds(mine, [b'F'], [fd])
    mine.close()
    out, err = p.communicate(hello(0) + b''.join(requests), timeout=30)
    rep = []
    while len(out) >= 9:
        n = struct.unpack('<I', out[:4])[0]
        body = out[9:4 + n]
        e, v = struct.unpack('<IQ', body[:12])
        rep.append((e, v))
        out = out[4 + n:]
    return p.returncode, err, rep


def copy_case(name, requests, fds, expect, env_fds=True, said=None):
    """expect: 'drop', or the errnos of the replies after HELLO; nothing
    may be left under the names the PUTs gave ('new', 'new2')."""
    sec, outside = case_dirs(name, bound_tree)
    rc, err, rep = talk_fds(sec, requests, fds, env_fds)
    problems = []
    if expect == 'drop':
        if rc != 76 or b'protocol error' not in err:
            problems.append('exit %d, expected 76 (dropped)' % rc)
    elif [e for e, v in rep[1:]] != expect or rc != 0:
        problems.append('exit %d, replies %r, expected %r' % (
            rc, [e for e, v in rep[1:]], expect))
    if said is not None and said.encode() not in err:
        problems.append('stderr does not say %r' % said)
    left = {'new', 'new2'} & set(os.listdir(sec))
    if left:
        problems.append('left under its name: %r' % sorted(left))
    msg = file_kept(sec, outside)
    if msg:
        problems.append(msg)
    report(name, problems, err)


def put_copy(name, size, flags=PUT_COPY):
    return put_req(b'', name, 0, flags, size)


copy_src = os.path.join(SCRATCH, 'copy-source')
with open(copy_src, 'w') as f:
    f.write('copied content\n')
src_rd = os.open(copy_src, os.O_RDONLY)
src_wr = os.open(copy_src, os.O_WRONLY)
dir_fd = os.open(SCRATCH, os.O_RDONLY | os.O_DIRECTORY)
ping = frame(MSG['PING'], 3, b'')
# The hash is checked: a copy that is not what the primary hashed is
# refused, and nothing is linked in.
copy_case('copy-wrong-hash', [put_copy(b'new', 15), put_end_hash(), ping],
          [src_rd], [ESTALE, 0])
copy_case('copy-shorter', [put_copy(b'new', 99), put_end_hash(), ping],
          [src_rd], [ESTALE, 0])
# Not a regular file open for reading: the PUT refused.
copy_case('copy-directory-fd', [put_copy(b'new', 15), put_end_hash(), ping],
          [dir_fd], [EBADF, 0])
copy_case('copy-writeonly-fd', [put_copy(b'new', 15), put_end_hash(), ping],
          [src_wr], [EBADF, 0])
# Descriptors are taken in the order of their PUTs.
copy_case('copy-in-order', [put_copy(b'new', 15), put_end_hash(),
                            put_copy(b'new2', 15), put_end_hash(), ping],
          [dir_fd, src_rd], [EBADF, ESTALE, 0])
# What breaks the protocol: no descriptor, DATA in a copy, a copy in
# place or with a delta, a PUT_COPY the secondary did not offer.
copy_case('copy-no-descriptor', [put_copy(b'new', 15), put_end_hash()], [],
          'drop', said='no descriptor for a PUT_COPY')
copy_case('copy-data', [put_copy(b'new', 15), data(0, b'x')], [src_rd],
          'drop')
copy_case('copy-no-hash', [put_copy(b'new', 15),
                           frame(MSG['PUT_END'], 2, attrs())], [src_rd],
          'drop')
copy_case('copy-inplace', [put_copy(b'file', 15, PUT_COPY | PUT_INPLACE)],
          [src_rd], 'drop')
copy_case('copy-delta', [put_copy(b'file', 15, PUT_COPY | PUT_DELTA)],
          [src_rd], 'drop')
copy_case('copy-not-offered', [put_copy(b'new', 15), put_end_hash()],
          [src_rd], 'drop', env_fds=False)
run('copy-without-channel', [put_copy(b'new', 15), put_end_hash()], 'drop',
    setup=bound_tree, check=nothing_at('new'))
# The HELLO says so only with the channel, and not to a read-only one.
name = 'copy-hello-bit'
problems = []
for fds_env, flags, want in ((True, 0, True), (True, HELLO_READONLY, False),
                             (False, 0, None)):
    sec, outside = case_dirs('%s-%d-%d' % (name, fds_env, flags), bound_tree)
    mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    env = dict(os.environ, GEOREP_TEST_FDS='1' if fds_env else '0')
    p = subprocess.run([GEOREP, 'secondary', '--fd-channel',
                        str(theirs.fileno()), sec], input=hello(flags),
                       capture_output=True, pass_fds=[theirs.fileno()],
                       env=env, timeout=30)
    mine.close()
    theirs.close()
    v = struct.unpack('<IQ', p.stdout[9:21])[1] if len(p.stdout) >= 21 else 0
    # Without the test switch it depends on the filesystem (a reflink).
    if want is not None and bool(v & HELLO_FDS) != want:
        problems.append('HELLO_FDS %s with env %s, flags %d' % (
            bool(v & HELLO_FDS), fds_env, flags))
p = subprocess.run([GEOREP, 'secondary', '--fd-channel', '1',
                    os.path.join(SCRATCH, name, 'x')], capture_output=True,
                   timeout=30)
if p.returncode != 64 or b'expected a descriptor number' not in p.stderr:
    problems.append('--fd-channel 1: exit %d' % p.returncode)
p = subprocess.run([GEOREP, 'secondary', '--fd-channel', str(src_rd),
                    os.path.join(SCRATCH, name, 'x')], capture_output=True,
                   pass_fds=[src_rd], timeout=30)
if p.returncode != 64 or b'not a socket' not in p.stderr:
    problems.append('--fd-channel of a file: exit %d' % p.returncode)
report(name, problems, b'')
for fd in (src_rd, src_wr, dir_fd):
    os.close(fd)

# ---- partial files (proto.h): PUT_PARTIAL, SIGNATURE of a partial ----

PUT_PARTIAL, SIG_PARTIAL = 0x8, 2**64 - 1
# PUT_PARTIAL only with PUT_DELTA, never in place: else dropped.
run('partial-without-delta', [put_req(b'', b'file', 0, PUT_PARTIAL, 10)],
    'drop', setup=bound_tree, check=file_kept)
run('partial-inplace', [put_req(b'', b'file', 0, PUT_PARTIAL | PUT_DELTA |
                                PUT_INPLACE, 10)], 'drop', setup=bound_tree,
    check=file_kept)
# No partial kept for the name: refused (ENOENT), nothing made.
run('partial-none', [put_req(b'', b'file', 0, PUT_DELTA | PUT_PARTIAL, 10),
                     data(0, lit), put_end_hash(),
                     frame(MSG['PING'], 3, b'')], [ENOENT, 0],
    setup=bound_tree, check=file_kept)
run('partial-signature-none', [signature(b'', b'file', sino=SIG_PARTIAL)],
    [ENOENT], setup=bound_tree, check=file_kept)


def plant_partial(sec, outside):
    bound_tree(sec, outside)
    stage = os.path.join(sec, '.georep', 'stage')
    os.makedirs(stage, exist_ok=True)
    with open(os.path.join(stage, 'partial.0123456789abcdef'), 'w') as f:
        f.write('kept\n')


# The staging area's listing does not show partial files.
name = 'partial-hidden'
sec, outside = case_dirs(name, plant_partial)
rc, err, rep = talk(name, sec, [frame(MSG['LISTDIR'], 2, u8(1) + bstr(b'') +
                                      u64(0) + bstr(b''))], flags=0)
problems = []
if rc != 0 or len(rep) != 2 or rep[1][0] != 0:
    problems.append('exit %d, replies %r' % (rc, rep))
elif b'partial.' in rep[1][2]:
    problems.append('LISTDIR of the staging area shows the partial file')
report(name, problems, err)

# ---- every type byte that names no request: the connection dropped ----

unknown = [0] + list(range(23, 64)) + list(range(65, 256))
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

# Compressed blocks: zstd frames made by the zstd command (with its
# checksum and the content size, as georep makes them; without, as a
# hostile primary may).
HELLO_COMPRESS = 0x4


def zblock(content, *opts, rid=0):
    # From a file: from a pipe the zstd command cannot declare the size.
    path = os.path.join(SCRATCH, 'zblock.in')
    with open(path, 'wb') as f:
        f.write(content)
    z = subprocess.run(['zstd', '-q', '-c', '--check'] + list(opts) +
                       [path], capture_output=True, check=True).stdout
    return frame(MSG['ZBLOCK'], rid, z)


def mkdir_req(rid, name):
    return frame(MK, rid, oref(b'', name) + u32(0o755))


try:
    subprocess.run(['zstd', '--version'], capture_output=True, check=True)
    have_zstd = True
except (OSError, subprocess.CalledProcessError):
    have_zstd = False
    print('skip compressed blocks: no zstd command')
if have_zstd:
    C = HELLO_COMPRESS
    inner = mkdir_req(2, b'za') + mkdir_req(3, b'zb')
    run('zblock-mkdirs', [zblock(inner), mkdir_req(4, b'zc')], [0, 0, 0],
        flags=C)
    run('zblock-without-flag', [zblock(inner)], 'drop',
        check=nothing_at('za'), said='HELLO did not ask for compression')
    run('zblock-nonzero-id', [zblock(inner, rid=7)], 'drop', flags=C,
        check=nothing_at('za'), said='with id 7 (0 expected)')
    run('zblock-bomb', [zblock(b'\0' * (16 << 20))], 'drop', flags=C,
        said='declares 16777216 bytes')
    run('zblock-no-checksum', [zblock(inner, '--no-check')], 'drop', flags=C,
        check=nothing_at('za'), said='has no content checksum')
    run('zblock-no-size', [zblock(inner, '--no-content-size')], 'drop',
        flags=C, check=nothing_at('za'), said='does not declare its size')
    run('zblock-cut-frame', [zblock(inner[:-2])], 'drop', flags=C,
        check=nothing_at('za'), said='ends in the middle of a frame')
    run('zblock-nested', [zblock(zblock(inner))], 'drop', flags=C,
        check=nothing_at('za'), said='holds another compressed block')
    run('zblock-not-zstd', [frame(MSG['ZBLOCK'], 0, b'\x28\xb5junk')],
        'drop', flags=C, said='is not a zstd frame')
    good = zblock(inner)
    run('zblock-trailing-bytes', [frame(MSG['ZBLOCK'], 0, good[9:] + b'xyz')],
        'drop', flags=C, check=nothing_at('za'),
        said='has 3 bytes after its zstd frame')
    run('zblock-cut-zstd', [frame(MSG['ZBLOCK'], 0, good[9:-3])], 'drop',
        flags=C, check=nothing_at('za'), said='cut or corrupt')
    # A hostile request inside a block is refused as it would be outside.
    run('zblock-slash-in-name',
        [zblock(frame(MK, 2, oref(b'', b'a/b') + u32(0o755)))], 'drop',
        flags=C, check=nothing_at('a'))

# The same refusals with workers (HELLO asking for 4): a PUT gathered for a
# worker is checked frame by frame by the main thread as before.
J = 3 << 8
run('jobs-put-through-symlink',
    [put_req(b'evil', b'victim', 0, 0, 4),
     frame(MSG['DATA'], 2, u64(0) + bstr(b'PWND')),
     frame(MSG['PUT_END'], 2, attrs())], [None], setup=plant_symlink,
    flags=J)
run('jobs-put-parent-other-inode',
    [put_req(b'd', b'f', 0, 0, 2, psino=1),
     frame(MSG['DATA'], 2, u64(0) + bstr(b'hi')),
     frame(MSG['PUT_END'], 2, attrs())], [ESTALE],
    setup=plant_dir, check=nothing_at('d/f'), flags=J)
run('jobs-data-beyond-size',
    [put_req(b'', b'f', 0, 0, 2),
     frame(MSG['DATA'], 2, u64(0) + bstr(b'toolong'))], 'drop',
    check=nothing_at('f'), flags=J)
run('jobs-other-op-inside-put',
    [put_req(b'', b'f', 0, 0, 1),
     frame(MK, 3, oref(b'', b'x') + u32(0o755))], 'drop',
    check=nothing_at('f', 'x'), flags=J)
run('jobs-put-end-trailing-bytes',
    [put_req(b'', b'f', 0, 0, 2),
     frame(MSG['DATA'], 2, u64(0) + bstr(b'hi')),
     frame(MSG['PUT_END'], 2, attrs() + b'junk')], 'drop',
    check=nothing_at('f'), flags=J)
# Replies in request order, whatever order the workers finish in: files,
# then a directory made after them, then one of them replaced by symlink.
run('jobs-replies-in-order',
    [m for i in range(40) for m in (
        put_req(b'', b'f%d' % i, 0, 0, 2 + i),
        frame(MSG['DATA'], 2, u64(0) + bstr(b'x' * (2 + i))),
        frame(MSG['PUT_END'], 2, attrs()))] +
    [frame(MK, 3, oref(b'', b'dir') + u32(0o755)),
     put_req(b'evil', b'victim', 0, 0, 1),
     frame(MSG['DATA'], 2, u64(0) + bstr(b'P')),
     frame(MSG['PUT_END'], 2, attrs()),
     put_req(b'', b'last', 0, 0, 1),
     frame(MSG['DATA'], 2, u64(0) + bstr(b'L')),
     frame(MSG['PUT_END'], 2, attrs())],
    [0] * 41 + [None, 0], setup=plant_symlink, flags=J,
    check=lambda s, o: None if all(
        os.path.getsize(os.path.join(s, 'f%d' % i)) == 2 + i
        for i in range(40)) and open(os.path.join(s, 'last')).read() == 'L'
    else 'the files are not as sent')
run('jobs-hello-more-bits', [], [], flags=0x1f << 8)
run('jobs-hello-bit-above', [], 'drop', flags=0x1 << 13)

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
