"""The wire as the tests write it: frames, fields and message types of
src/protocol/proto.h, shared by hostile.py (frames into a secondary) and
hostile_secondary.py (a secondary that answers the primary badly)."""
import os
import re
import struct

MSG = dict(HELLO=1, MKDIR=2, SYMLINK=3, MKNOD=4, LINK=5, RENAME=6, UNLINK=7,
           RMTREE=8, PUT=9, DATA=10, PUT_END=11, PUT_ABORT=12, SETATTR=13,
           COMMIT=14, BYE=15, RESET=16, LISTDIR=17, PING=18, VLIST=19,
           DIGEST=20, ZBLOCK=21, SIGNATURE=22, REPLY=64)
# The protocol version, from the header georep is built from.
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..',
                       'src', 'protocol', 'proto.h')) as _h:
    _proto_h = _h.read()
PROTO_VERSION = int(re.search(r'#define PROTO_VERSION\s+(\d+)',
                              _proto_h).group(1))
PROTO_FRAME_MAX = 4 << 20       # type + id + payload
ESTALE = 116
ECANCELED = 125
EIO = 5


def u8(v): return struct.pack('<B', v)
def u32(v): return struct.pack('<I', v)
def i32(v): return struct.pack('<i', v)
def u64(v): return struct.pack('<Q', v)
def bstr(b): return u32(len(b)) + b


def frame(t, rid, payload):
    return u32(5 + len(payload)) + u8(t) + u32(rid) + payload


def reply(rid, err=0, value=0, data=b''):
    """A REPLY frame: i32 errno, u64 value, bytes message-or-result."""
    return frame(MSG['REPLY'], rid, i32(err) + u64(value) + bstr(data))


def oref(parent, name, base=0, psino=0):
    return u8(base) + bstr(parent) + u64(psino) + bstr(name)
