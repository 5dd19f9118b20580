#!/usr/bin/env python3
"""A hostile secondary: what georep runs as its ssh command in a test.

    georep sync --ssh "python3 hostile_secondary.py MODE" P HOST:PATH

georep runs the ssh command's words, then HOST and the remote command line
("georep secondary 'PATH'"): those two are ignored here; MODE is taken
from this program's own first argument.  It reads the primary's frames on
stdin and answers on stdout like a secondary that applies everything (new
inode numbers, empty listings) -- except where MODE says otherwise: a frame
the primary must refuse, at the HELLO, in a turn, or in the listing of a
reconcile.  To get to a listing, the first entry operation is answered
ESTALE (the rest of them ECANCELED, as a real secondary does): the turn
asks for a full reconcile, and the next turn starts with LISTDIR of the
root.

    hostile_secondary.py --list   one line per mode: MODE STATUS REGEX,
                                  the exit status georep must end with and
                                  what its stderr must say (grep -E)

Statuses (README, "Exit status"): 76 when the secondary broke the protocol
(what it sent is impossible, whatever the reason: running again does not
help); 69 when it went away or went silent (a crash or a cut link looks
like that, even in the middle of a frame).
"""
import os
import subprocess
import random
import sys

from wire import (MSG, PROTO_FRAME_MAX, ECANCELED, EIO, ESTALE, bstr, frame,
                  i32, reply, u32, u64)

HELLO_IS_ROOT = 0x100
PROTO_LIST_BYTES = 1 << 20
S_IFDIR, S_IFREG = 0o040000, 0o100000
ORDERED = {MSG[n] for n in ('MKDIR', 'SYMLINK', 'MKNOD', 'LINK', 'RENAME',
                            'UNLINK', 'RMTREE')}
CREATES = {MSG['MKDIR'], MSG['SYMLINK'], MSG['MKNOD']}


class Peer:
    """The cooperative part: frames in, answers out."""

    def __init__(self, mode):
        self.mode = mode
        self.buf = b''
        self.ino = 1000
        self.put_id = None
        self.stale_sent = False
        self.poisoned = False
        self.pages = 0

    def send(self, data):
        try:
            view = memoryview(data)
            while view:
                n = os.write(1, view)
                view = view[n:]
        except (BrokenPipeError, ConnectionResetError):
            sys.exit(0)     # the primary dropped us: what we wanted

    def read_frame(self):
        """(type, id, payload), or None at EOF.  A compressed block (the
        primary compresses what it sends over ssh, and this is its ssh
        command) is unpacked with the zstd command: its frames come
        next."""
        while True:
            if len(self.buf) >= 4:
                n = int.from_bytes(self.buf[:4], 'little')
                if len(self.buf) >= 4 + n:
                    f = self.buf[:4 + n]
                    self.buf = self.buf[4 + n:]
                    if f[4] == MSG['ZBLOCK']:
                        self.buf = subprocess.run(
                            ['zstd', '-q', '-d', '-c'], input=f[9:],
                            capture_output=True, check=True).stdout + \
                            self.buf
                        continue
                    return f[4], int.from_bytes(f[5:9], 'little'), f[9:]
            chunk = os.read(0, 1 << 20)
            if not chunk:
                return None
            self.buf += chunk

    def new_ino(self):
        self.ino += 1
        return self.ino

    def hello(self, rid, payload):
        uid, root = os.geteuid(), os.geteuid() == 0
        return reply(rid, 0, HELLO_IS_ROOT if root else 0,
                     u32(uid) + u32(os.getegid()))

    def ordered(self, t, rid, payload):
        """An entry operation: ESTALE once in the listing modes (the next
        turn reconciles), then cancelled until COMMIT, as a secondary
        does after a failure."""
        if self.poisoned:
            return reply(rid, ECANCELED, 0, b'cancelled')
        if self.mode.startswith('list-') and not self.stale_sent:
            self.stale_sent = self.poisoned = True
            return reply(rid, ESTALE, 0, b'not the directory meant')
        if t in CREATES:
            return self.created(t, rid)
        return reply(rid)

    def created(self, t, rid):
        if self.mode == 'mkdir-ino-zero' and t == MSG['MKDIR']:
            return reply(rid, 0, 0)
        if self.mode == 'mkdir-data' and t == MSG['MKDIR']:
            return reply(rid, 0, self.new_ino(), b'extra')
        return reply(rid, 0, self.new_ino())

    def put_end(self, t):
        if t == MSG['PUT_ABORT']:
            return reply(self.put_id)
        if self.mode == 'put-ino-zero':
            return reply(self.put_id, 0, 0)
        return reply(self.put_id, 0, self.new_ino())

    def commit(self, rid):
        self.poisoned = False
        return reply(rid, 0, 9 if self.mode == 'commit-value' else 0)

    def listdir(self, rid, payload):
        self.pages += 1
        fn = LISTINGS.get(self.mode)
        if fn is None:
            return reply(rid)   # an empty directory
        return fn(self, rid)

    def answer(self, t, rid, payload):
        if t == MSG['HELLO']:
            return self.hello(rid, payload)
        if t in ORDERED:
            return self.ordered(t, rid, payload)
        if t == MSG['PUT']:
            self.put_id = rid
            return b''
        if t == MSG['DATA']:
            return b''
        if t in (MSG['PUT_END'], MSG['PUT_ABORT']):
            return self.put_end(t)
        if t == MSG['COMMIT']:
            return self.commit(rid)
        if t == MSG['LISTDIR']:
            return self.listdir(rid, payload)
        return reply(rid)   # SETATTR, RESET, PING, BYE

    def serve(self):
        """Answer until BYE or EOF."""
        while True:
            f = self.read_frame()
            if f is None:
                return
            self.send(self.answer(*f))
            if f[0] == MSG['BYE']:
                return


# ---- LISTDIR replies: entries of u64 ino, u32 mode, u64 size, u64 mtime
# sec, u32 mtime nsec, str name ----

def entry(name, ino=4242, mode=S_IFREG | 0o644, namelen=None):
    n = len(name) if namelen is None else namelen
    return u64(ino) + u32(mode) + u64(0) + u64(0) + u32(0) + u32(n) + name


def listing(*names, more=0):
    return lambda peer, rid: reply(rid, 0, more,
                                   b''.join(entry(n) for n in names))


def page_order(peer, rid):
    # Page 1 ends with 'b' and says more follow; page 2 goes back to 'a'.
    if peer.pages == 1:
        return reply(rid, 0, 1, entry(b'a') + entry(b'b'))
    return reply(rid, 0, 0, entry(b'a'))


LISTINGS = {
    'list-slash': listing(b'a/b'),
    'list-dotdot': listing(b'..'),
    'list-dot': listing(b'.'),
    'list-nul': listing(b'a\0b'),
    'list-empty-name': listing(b''),
    'list-long-name': listing(b'x' * 256),
    'list-state-dir': listing(b'.georep'),
    'list-order': listing(b'b', b'a'),
    'list-dup': listing(b'a', b'a'),
    'list-value': listing(b'a', more=7),
    'list-more-empty': listing(more=1),
    'list-page-order': page_order,
    # A name's length past the end of the data.
    'list-len-past': lambda peer, rid: reply(
        rid, 0, 0, entry(b'abc', namelen=50)),
    # An entry cut in the middle of its fields.
    'list-cut': lambda peer, rid: reply(rid, 0, 0, entry(b'a') + u64(1)),
    # More than a page may hold.
    'list-too-big': lambda peer, rid: reply(
        rid, 0, 0, b''.join(entry(b'%07d' % i + b'x' * 200)
                            for i in range(PROTO_LIST_BYTES // 230))),
}


# ---- modes that break the HELLO exchange itself ----

def at_hello(make):
    """Wait for the HELLO, send make(rid) instead of its reply, then answer
    what comes (a BYE, after a refusal that is not a protocol error) until
    the primary ends us."""
    def run(peer):
        f = peer.read_frame()
        if f is None:
            return
        peer.send(make(f[1]))
        peer.serve()
    return run


def drain():
    """Read and ignore the rest, until EOF (the primary dropped us)."""
    while os.read(0, 1 << 20):
        pass


def hello_ok(rid):
    return reply(rid, 0, 0, u32(os.geteuid()) + u32(os.getegid()))


def cut_frame(peer):
    peer.read_frame()
    peer.send(u32(100) + bytes([MSG['REPLY']]) + u32(1) + b'x' * 15)
    sys.exit(0)     # EOF in the middle of the frame


def silent(peer):
    drain()


def silent_after_hello(peer):
    f = peer.read_frame()
    if f is not None:
        peer.send(hello_ok(f[1]))
    drain()


def flood(peer):
    # A frame of the largest size, a REPLY to the HELLO whose data is far
    # too long, and junk after it for as long as the primary reads.
    f = peer.read_frame()
    if f is None:
        return
    data_len = PROTO_FRAME_MAX - 5 - 16
    peer.send(u32(PROTO_FRAME_MAX) + bytes([MSG['REPLY']]) + u32(f[1]) +
              i32(0) + u64(0) + u32(data_len) + b'\xa5' * data_len)
    junk = bytes(range(256)) * 4096
    for _ in range(64):
        peer.send(junk)


def junk(peer):
    # Megabytes of noise (the same each run), without waiting for a word.
    rng = random.Random(16)
    for _ in range(16):
        peer.send(rng.randbytes(1 << 20))


def eof(peer):
    sys.exit(0)


HELLO_MODES = {
    'frame-too-long': lambda rid: u32(PROTO_FRAME_MAX + 1) +
    bytes([MSG['REPLY']]) + u32(rid),
    'frame-huge': lambda rid: u32(0xffffffff) + bytes([MSG['REPLY']]) +
    u32(rid),
    'frame-too-short': lambda rid: u32(4) + bytes([MSG['REPLY']]) + b'\0' * 3,
    'unknown-type': lambda rid: frame(200, rid, b''),
    'request-type': lambda rid: frame(MSG['MKDIR'], rid, b''),
    'wrong-id': lambda rid: hello_ok(rid + 98),
    'unasked': lambda rid: hello_ok(rid) + reply(rid + 1),
    'hello-data-short': lambda rid: reply(rid, 0, 0, u32(0)),
    'hello-data-long': lambda rid: reply(rid, 0, 0, u32(0) * 3),
    'hello-state': lambda rid: reply(rid, 0, 7, u32(0) * 2),
    'hello-bits': lambda rid: reply(rid, 0, 0x10000, u32(0) * 2),
    'errno-negative': lambda rid: reply(rid, -1, 0, b'minus one'),
    'errno-big': lambda rid: reply(rid, 4096, 0, b'past MAX_ERRNO'),
    'errmsg-long': lambda rid: reply(rid, EIO, 0, b'e' * 5000),
    # A message with control bytes: a real refusal (not a protocol error),
    # shown escaped.
    'errmsg-escape': lambda rid: reply(rid, EIO, 0,
                                       b'no\n\x1b[31mdisk\x07 here'),
    'reply-cut': lambda rid: frame(MSG['REPLY'], rid, i32(0) + u32(0)),
    'reply-len-past': lambda rid: frame(MSG['REPLY'], rid, i32(0) + u64(0) +
                                        u32(100) + u32(0) * 2),
    'reply-trailing': lambda rid: frame(MSG['REPLY'], rid, i32(0) + u64(0) +
                                        bstr(u32(0) * 2) + b'tail'),
    'garbage-after-hello': lambda rid: hello_ok(rid) + b'\xde\xad\xbe\xef' * 4,
}

OTHER_MODES = {
    'frame-cut': cut_frame,
    'silent': silent,
    'silent-after-hello': silent_after_hello,
    'flood': flood,
    'junk': junk,
    'eof': eof,
}

# MODE: exit status, what stderr says (grep -E).  --timeout 3 is assumed.
LISTING = r'protocol error: the LISTDIR reply for / '
EXPECT = {
    'frame-too-long': (76, r'protocol error: a frame of 4194305 bytes from '
                       r'the secondary \(at most 4194304\)'),
    'frame-huge': (76, r'protocol error: a frame of 4294967295 bytes'),
    'frame-too-short': (76, r'protocol error: a frame of 4 bytes from the '
                        r'secondary \(at least 5\)'),
    'unknown-type': (76, r'protocol error: the secondary sent a frame of '
                     r'unknown type 200'),
    'request-type': (76, r'protocol error: the secondary sent a MKDIR frame'),
    'wrong-id': (76, r'protocol error: a reply to request 99, but request 1 '
                 r'\(HELLO\) is the one waiting'),
    'unasked': (76, r'protocol error: a reply to request 2, and no request '
                r'is waiting'),
    'hello-data-short': (76, r'protocol error: a reply to HELLO with 4 bytes '
                         r'of data \(8 expected\)'),
    'hello-data-long': (76, r'protocol error: a reply to HELLO with 12 bytes '
                        r'of data \(8 expected\)'),
    'hello-state': (76, r'protocol error: a reply to HELLO with value 0x7 '
                    r'\(not a state and known flags\)'),
    'hello-bits': (76, r'protocol error: a reply to HELLO with value '
                   r'0x10000 \(not a state and known flags\)'),
    'errno-negative': (76, r'protocol error: a reply to HELLO with errno -1 '
                       r'\(not 0\.\.4095\)'),
    'errno-big': (76, r'protocol error: a reply to HELLO with errno 4096 '
                  r'\(not 0\.\.4095\)'),
    'errmsg-long': (76, r'protocol error: a reply to HELLO with an error '
                    r'message of 5000 bytes \(at most 4096\)'),
    'errmsg-escape': (73, r'no\\x0a\\x1b\[31mdisk\\x07 here'),
    'reply-cut': (76, r'protocol error: a reply to HELLO of 8 bytes \(at '
                  r'least 16\)'),
    'reply-len-past': (76, r'protocol error: a reply to HELLO whose data of '
                       r'100 bytes runs past its end \(8 left\)'),
    'reply-trailing': (76, r'protocol error: 4 bytes after the data of a '
                       r'reply to HELLO'),
    'garbage-after-hello': (76, r'protocol error: a frame of 4022250974 '
                            r'bytes from the secondary'),
    'frame-cut': (69, r'the secondary \(fake:/x\) exited with status 0 in '
                  r'the middle of a frame \(24 of 104 bytes\)'),
    'silent': (69, r'the secondary \(fake:/x\) did not answer for 3 s'),
    'silent-after-hello': (69, r'the secondary \(fake:/x\) did not answer '
                           r'for 3 s'),
    'flood': (76, r'protocol error: a reply to HELLO with 4194283 bytes of '
              r'data \(8 expected\)'),
    'junk': (76, r'protocol error: '),
    'eof': (69, r'the secondary \(fake:/x\) exited with status 0'),
    'mkdir-ino-zero': (76, r'protocol error: a reply to MKDIR with inode '
                       r'number 0'),
    'mkdir-data': (76, r'protocol error: a reply to MKDIR with 5 bytes of '
                   r'data \(none expected\)'),
    'put-ino-zero': (76, r'protocol error: a reply to PUT_END with inode '
                     r'number 0'),
    'commit-value': (76, r'protocol error: a reply to COMMIT with value 0x9 '
                     r'\(0 expected\)'),
    'list-slash': (76, LISTING + r'has an entry with an invalid name "a/b"'),
    'list-dotdot': (76, LISTING + r'has an entry with an invalid name '
                    r'"\.\."'),
    'list-dot': (76, LISTING + r'has an entry with an invalid name "\."'),
    'list-nul': (76, LISTING + r'has an entry with an invalid name '
                 r'"a\\x00b"'),
    'list-empty-name': (76, LISTING + r'has an entry with an invalid name '
                        r'""'),
    'list-long-name': (76, LISTING + r'has an entry with an invalid name '
                       r'"x{256}"'),
    'list-state-dir': (76, LISTING + r'has an entry named "\.georep" \(the '
                       "secondary's own state\\)"),
    'list-order': (76, LISTING + r'has entries out of order: "a" after "b"'),
    'list-dup': (76, LISTING + r'has entries out of order: "a" after "a"'),
    'list-value': (76, r'protocol error: a reply to LISTDIR with value 0x7 '
                   r'\(0 or 1 expected\)'),
    'list-more-empty': (76, LISTING + r'says more entries follow, and has '
                        r'none'),
    'list-page-order': (76, LISTING + r'has entries out of order: "a" after '
                        r'"b"'),
    'list-len-past': (76, LISTING + r'has an entry that does not parse '
                      r'\(at byte 36 of 39\)'),
    'list-cut': (76, LISTING + r'has an entry that does not parse \(at '
                 r'byte 45 of 45\)'),
    'list-too-big': (76, r'protocol error: a reply to LISTDIR with [0-9]+ '
                     r'bytes of data \(at most 1048576\)'),
}


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == '--list':
        for m, (code, rx) in EXPECT.items():
            print(m, code, rx)
        return
    if len(sys.argv) < 2 or sys.argv[1] not in EXPECT:
        sys.stderr.write('usage: hostile_secondary.py MODE | --list\n')
        sys.exit(2)
    mode = sys.argv[1]
    peer = Peer(mode)
    if mode in HELLO_MODES:
        at_hello(HELLO_MODES[mode])(peer)
    elif mode in OTHER_MODES:
        OTHER_MODES[mode](peer)
    else:
        peer.serve()
        drain()


if __name__ == '__main__':
    main()
