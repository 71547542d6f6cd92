#!/usr/bin/env python3
"""badinput_table.py -- hostile input against a mounted hybriddb, one row each.

    badinput_table.py run MNT MAX_DOC_SIZE SNAPSHOT    run every row
    badinput_table.py compare MNT SNAPSHOT             after a remount

Run by tests/integration/test_badinput_table.sh on a fresh mount made with
`-o max_doc_size=MAX_DOC_SIZE`.  `run` builds a small fixture (two
collections, documents, a symlink, an opaque file, an index), takes a
snapshot of the database and saves it to SNAPSHOT, then runs the tables
below.  Each row is one line of data: what is done, the input, and the
expected result: "ok", or an errno name, optionally with the call that must
report it ("EFBIG@write", "EINVAL@close").  After every row the snapshot is
taken again and must equal the first one, so a refused input has changed
nothing; a row that is accepted is checked (the name is listed, the bytes
read back) and then undone by the runner before the comparison.  `compare`
checks that the snapshot holds after a remount.

The snapshot: every name under the root (bytes), its type, permission
bits, size, the SHA-256 of a file's content or a symlink's target; the
counters of /.stats (documents, collections, files, symlinks, bytes); the
answer of an indexed query and the SHA-256 of a collection's
.export.jsonl.  Times and inode numbers are left out: an accepted row and
its undo change them.

Every failing row is reported (with what it got, or how the snapshot
changed) and the exit status is 1; 0 when every row holds.
"""
import errno
import hashlib
import json
import mmap
import os
import stat
import sys
import threading

OK = 0
MNT = b''
MAX = 0
failures = []


def E(name):
    return getattr(errno, name)


# --- operations --------------------------------------------------------------
# Each returns None on success or raises Failed(errno, call) naming the call
# that failed, so that a row can require the stage ("EFBIG@write").

class Failed(Exception):
    def __init__(self, err, call):
        super().__init__(err, call)
        self.err, self.call = err, call


def call(name, fn, *args):
    try:
        return fn(*args)
    except OSError as e:
        raise Failed(e.errno, name) from None


def write_all(fd, data):
    """Writes everything, as a tool does, going on after a short write;
    empty data is one write of 0 bytes."""
    view = memoryview(data)
    while True:
        n = call('write', os.write, fd, view)
        view = view[n:]
        if not len(view):
            return


def aligned(data):
    """data in page-aligned memory: the kernel then splits a write of more
    than its maximum request at exact multiples of it."""
    buf = mmap.mmap(-1, max(len(data), 1))
    buf.write(data)
    return memoryview(buf)[:len(data)]


def put_file(path, data, flags):
    fd = call('open', os.open, path, os.O_WRONLY | flags, 0o644)
    try:
        write_all(fd, data)
    except Failed:
        try:
            os.close(fd)
        except OSError:
            pass
        raise
    call('close', os.close, fd)


def read_file(path):
    with open(path, 'rb') as f:
        return f.read()


def create(path, data=b'{}'):
    put_file(path, data, os.O_CREAT | os.O_EXCL)


def overwrite(path, data):
    put_file(path, data, os.O_TRUNC)


def resize(path, size):
    fd = call('open', os.open, path, os.O_WRONLY)
    try:
        call('truncate', os.ftruncate, fd, size)
    finally:
        os.close(fd)


def pwrite_at(path, data, off):
    fd = call('open', os.open, path, os.O_WRONLY)
    try:
        call('write', os.pwrite, fd, data, off)
    finally:
        os.close(fd)


def sc(fn, *args):
    """os.<fn>(*args) with the mount prefixed to every path ("/...")."""
    real = [MNT + a if isinstance(a, bytes) and a.startswith(b'/') else a for a in args]
    return lambda: call(fn, getattr(os, fn), *real)


# --- the snapshot --------------------------------------------------------------

VIRTUAL_AT_ROOT = (b'.control', b'.stats')
STATS_COUNTERS = ('documents', 'collections', 'files', 'symlinks', 'bytes')


def stats():
    return json.loads(read_file(MNT + b'/.stats'))


def walk(rel, out):
    names = sorted(os.listdir(MNT + rel if rel else MNT))
    for name in names:
        if not rel and name in VIRTUAL_AT_ROOT:
            continue
        r = rel + b'/' + name
        p = MNT + r
        st = os.lstat(p)
        if stat.S_ISLNK(st.st_mode):
            what = 'link ' + os.readlink(p).hex()
        elif stat.S_ISDIR(st.st_mode):
            what = 'dir'
        else:
            what = 'file %d %s' % (st.st_size, hashlib.sha256(read_file(p)).hexdigest())
        out[r.hex()] = '%o %s' % (stat.S_IMODE(st.st_mode), what)
        if stat.S_ISDIR(st.st_mode):
            walk(r, out)


def snapshot():
    tree = {}
    walk(b'', tree)
    s = stats()
    return {
        'tree': tree,
        'counters': {k: s[k] for k in STATS_COUNTERS},
        'query': sorted(n.hex() for n in os.listdir(MNT + b'/c/.where/age>=0')),
        'export': hashlib.sha256(read_file(MNT + b'/c/.export.jsonl')).hexdigest(),
    }


def show(key):
    return repr(bytes.fromhex(key))


def differences(a, b):
    out = []
    for k in sorted(set(a['tree']) | set(b['tree'])):
        if a['tree'].get(k) != b['tree'].get(k):
            out.append('%s: %s -> %s' % (show(k), a['tree'].get(k, 'absent'),
                                         b['tree'].get(k, 'absent')))
    for part in ('counters', 'query', 'export'):
        if a[part] != b[part]:
            out.append('%s: %s -> %s' % (part, a[part], b[part]))
    return out


# --- the fixture ------------------------------------------------------------------

DOC = b'{"age": 30, "name": "doc"}\n'
BIG = b'{"age": 50, "pad": "' + b'p' * 40000 + b'"}\n'


def make_fixture():
    os.mkdir(MNT + b'/c')
    os.mkdir(MNT + b'/c/sub')
    os.mkdir(MNT + b'/d')
    create(MNT + b'/c/doc.json', DOC)
    create(MNT + b'/c/mover.json', b'{"age": 5}')
    create(MNT + b'/c/big.json', BIG)
    create(MNT + b'/c/sub/inner.json', b'[1, 2, 3]')
    create(MNT + b'/c/notes.txt', b'plain text\n')
    create(MNT + b'/top.json', b'{"at": "root"}')
    os.symlink(b'doc.json', MNT + b'/c/link')
    os.mkdir(MNT + b'/c/.indexes/age')
    put_file(MNT + b'/.control', b'checkpoint\n', 0)


# --- running a row ------------------------------------------------------------------

def expect_parse(text):
    if text == 'ok':
        return OK, None
    name, _, stage = text.partition('@')
    return E(name), stage or None


def outcome(fn):
    try:
        fn()
    except Failed as f:
        return f.err, f.call
    return OK, None


def describe(err, stage):
    if err == OK:
        return 'ok'
    return errno.errorcode.get(err, str(err)) + ('@' + stage if stage else '')


class Runner:
    def __init__(self):
        self.base = snapshot()
        self.rows = 0
        self.prove_snapshot_sees_changes()

    def prove_snapshot_sees_changes(self):
        """The comparison must see a new name and a changed byte, in the
        tree and in the daemon's own answers (.export.jsonl, counters)."""
        create(MNT + b'/c/canary.json', b'{}')
        new_name = differences(self.base, snapshot())
        os.unlink(MNT + b'/c/canary.json')
        overwrite(MNT + EXISTING, DOC.replace(b'30', b'31'))
        new_byte = differences(self.base, snapshot())
        overwrite(MNT + EXISTING, DOC)
        if len(new_name) < 3 or len(new_byte) < 2 or differences(self.base, snapshot()):
            sys.exit('the snapshot misses changes: %s / %s' % (new_name, new_byte))

    def check(self, label, fn, expect, verify=None, undo=None):
        """Runs fn, compares its result with expect; when accepted, calls
        verify() (an error message or None) and undo(); then the snapshot
        must be the base one."""
        self.rows += 1
        want, want_stage = expect_parse(expect)
        got, got_stage = outcome(fn)
        if got != want or (want_stage and got_stage != want_stage):
            failures.append('%s: expected %s, got %s' % (label, expect, describe(got, got_stage)))
        if got == OK:
            try:
                msg = verify() if verify else None
                if undo:
                    undo()
            except OSError as e:
                msg = 'checking or undoing it failed: %s' % e
            if msg:
                failures.append('%s: accepted but %s' % (label, msg))
        now = snapshot()
        diff = differences(self.base, now)
        if diff:
            failures.append('%s: the database changed: %s' % (label, '; '.join(diff[:5])))
            self.base = now    # report each change once


# --- names -----------------------------------------------------------------------
# Names are byte strings as on any Linux file system: every byte but NUL and
# '/' is allowed, UTF-8 or not, control characters included (tar, rsync and
# cp -r must copy any tree); a name is at most 255 bytes.  Names reserved for
# virtual files exist already, so creating one is EEXIST; renaming onto one
# is EPERM (EISDIR onto a virtual directory: the kernel answers first).  The
# root is not a collection: .where, .indexes, .import and .export.jsonl are
# ordinary names there, and .control and .stats are ordinary names inside a
# collection.
# TODO: .schema, .export.csv and .import.csv, once they exist, get rows here.

OPS = ('create', 'mkdir', 'rename', 'symlink')


def all_(e):
    return (e,) * 4


ALL_OK = all_('ok')
RESERVED_FILE = ('EEXIST', 'EEXIST', 'EPERM', 'EEXIST')
RESERVED_DIR = ('EEXIST', 'EEXIST', 'EISDIR', 'EEXIST')
DOT = ('EEXIST', 'EEXIST', 'EBUSY', 'EEXIST')

NAME_ROWS = [
    # name                      at the root: create mkdir rename symlink   in a collection
    (b'n' * 255,                ALL_OK,                 ALL_OK),
    (b'n' * 250 + b'.json',     ALL_OK,                 ALL_OK),
    (b'n' * 256,                all_('ENAMETOOLONG'),   all_('ENAMETOOLONG')),
    (b'n' * 251 + b'.json',     all_('ENAMETOOLONG'),   all_('ENAMETOOLONG')),
    (b'n' * 1025,               all_('ENAMETOOLONG'),   all_('ENAMETOOLONG')),
    (b'no/such.json',           all_('ENOENT'),         all_('ENOENT')),    # '/' separates; no name holds it
    (b'\xff.json',              ALL_OK,                 ALL_OK),            # invalid UTF-8: stored as bytes
    (b'\xc0\xaf.json',          ALL_OK,                 ALL_OK),            # overlong '/'
    (b'\xed\xa0\x80.json',      ALL_OK,                 ALL_OK),            # an encoded surrogate
    (b'\xe2\x82.json',          ALL_OK,                 ALL_OK),            # a truncated sequence
    (b'\xc3\xa9t\xc3\xa9.json', ALL_OK,                 ALL_OK),
    (b'.control',               RESERVED_FILE,          ALL_OK),
    (b'.stats',                 RESERVED_FILE,          ALL_OK),
    (b'.where',                 ALL_OK,                 RESERVED_DIR),
    (b'.indexes',               ALL_OK,                 RESERVED_DIR),
    (b'.import',                ALL_OK,                 RESERVED_FILE),
    (b'.export.jsonl',          ALL_OK,                 RESERVED_FILE),
    (b'.swp',                   ALL_OK,                 ALL_OK),
    (b'.',                      DOT,                    DOT),
    (b'..',                     None,                   DOT),   # at the root: the host's directory
] + [
    (b'n' + bytes([c]) + b'.json', ALL_OK,              ALL_OK) for c in list(range(0x01, 0x20)) + [0x7f]
]

MOVER = b'/c/mover.json'


def name_op(op, path):
    if op == 'create':
        return lambda: create(path)
    if op == 'mkdir':
        return lambda: call('mkdir', os.mkdir, path)
    if op == 'rename':
        return lambda: call('rename', os.rename, MNT + MOVER, path)
    return lambda: call('symlink', os.symlink, b'doc.json', path)


def name_verify(op, parent, name, path):
    def verify():
        if name not in os.listdir(parent):
            return 'not listed'
        if op == 'create' and read_file(path) != b'{}':
            return 'content differs'
        if op == 'symlink' and os.readlink(path) != b'doc.json':
            return 'target differs'
        return None
    return verify


def name_undo(op, path):
    if op == 'mkdir':
        return lambda: os.rmdir(path)
    if op == 'rename':
        return lambda: os.rename(path, MNT + MOVER)
    return lambda: os.unlink(path)


def run_names(r):
    for name, at_root, in_coll in NAME_ROWS:
        for where, expects in ((b'', at_root), (b'/c', in_coll)):
            if expects is None:
                continue
            parent = MNT + where
            path = parent + b'/' + name
            for op, expect in zip(OPS, expects):
                r.check('%s %r in %s' % (op, name, where.decode() or '/'), name_op(op, path), expect,
                        name_verify(op, parent, name, path), name_undo(op, path))


# --- JSON -------------------------------------------------------------------------
# Each row runs twice: as a new document (absence must hold when refused)
# and over an existing one (its previous version must hold).  The decisions
# are those of fs/json.h.

DEEP = 100000
MAXD = 512      # HDB_JSON_MAX_DEPTH


def nest_arrays(n):
    return b'[' * n + b']' * n


def nest_objects(n):
    return b'{"a":' * n + b'1' + b'}' * n


JSON_ROWS = [
    # label                         input (bytes, or a function making them)        expected
    ('arrays 100k deep',            lambda: nest_arrays(DEEP),                      'EINVAL@close'),
    ('objects 100k deep',           lambda: nest_objects(DEEP),                     'EINVAL@close'),
    ('arrays 512 deep',             lambda: nest_arrays(MAXD),                      'ok'),
    ('arrays 513 deep',             lambda: nest_arrays(MAXD + 1),                  'EINVAL@close'),
    ('objects 513 deep',            lambda: nest_objects(MAXD + 1),                 'EINVAL@close'),
    ('1e400',                       b'1e400',                                       'ok'),
    ('10k-digit number',            lambda: b'9' * 10000,                           'ok'),
    ('10k-digit fraction',          lambda: b'0.' + b'3' * 10000 + b'e-99999',      'ok'),
    ('-0',                          b'-0',                                          'ok'),
    ('leading zero',                b'01',                                          'EINVAL@close'),
    ('plus sign',                   b'+1',                                          'EINVAL@close'),
    ('bare fraction',               b'.5',                                          'EINVAL@close'),
    ('dot without digits',          b'1.',                                          'EINVAL@close'),
    ('exponent without digits',     b'1e',                                          'EINVAL@close'),
    ('NaN',                         b'NaN',                                         'EINVAL@close'),
    ('Infinity',                    b'[Infinity]',                                  'EINVAL@close'),
    ('-Infinity',                   b'-Infinity',                                   'EINVAL@close'),
    ('UTF-8 two bytes',             b'"\xc3\xa9"',                                  'ok'),
    ('UTF-8 four bytes',            b'"\xf0\x9f\x98\x80"',                          'ok'),
    ('overlong 2-byte',             b'"\xc0\xaf"',                                  'EINVAL@close'),
    ('overlong 3-byte',             b'"\xe0\x80\xaf"',                              'EINVAL@close'),
    ('overlong 4-byte',             b'"\xf0\x80\x80\xaf"',                          'EINVAL@close'),
    ('encoded high surrogate',      b'"\xed\xa0\x80"',                              'EINVAL@close'),
    ('encoded low surrogate',       b'"\xed\xbf\xbf"',                              'EINVAL@close'),
    ('over U+10FFFF',               b'"\xf4\x90\x80\x80"',                          'EINVAL@close'),
    ('truncated 3-byte',            b'"\xe2\x82"',                                  'EINVAL@close'),
    ('truncated at the end',        b'"\xe2\x82',                                   'EINVAL@close'),
    ('stray continuation',          b'"\x80"',                                      'EINVAL@close'),
    ('0xFF',                        b'"\xff"',                                      'EINVAL@close'),
    ('0xFF outside a string',       b'[1,\xff]',                                    'EINVAL@close'),
    ('invalid UTF-8 in a key',      b'{"\xc0\xaf":1}',                              'EINVAL@close'),
    ('lone \\ud800',                b'"\\ud800"',                                   'EINVAL@close'),
    ('lone \\udc00',                b'"\\udc00"',                                   'EINVAL@close'),
    ('high then not low',           b'"\\ud800\\u0041"',                            'EINVAL@close'),
    ('valid surrogate pair',        b'"\\ud83d\\ude00"',                            'ok'),
    ('\\u0000',                     b'"\\u0000"',                                   'ok'),
    ('bad escape',                  b'"\\x41"',                                     'EINVAL@close'),
    ('trailing garbage',            b'{"a":1} x',                                   'EINVAL@close'),
    ('a second value',              b'{"a":1} {"b":2}',                             'EINVAL@close'),
    ('two numbers',                 b'1 2',                                         'EINVAL@close'),
    ('surrounding whitespace',      b' \t\r\n{"a":1} \t\r\n',                       'ok'),
    ('form feed as whitespace',     b'\x0c{}',                                      'EINVAL@close'),
    ('BOM',                         b'\xef\xbb\xbf{"a":1}',                         'EINVAL@close'),
    ('duplicate keys',              b'{"a":1,"a":2}',                               'ok'),
    ('empty',                       b'',                                            'EINVAL@close'),
    ('only whitespace',             b' \n\t\r ',                                    'EINVAL@close'),
    ('NUL after the value',         b'{"a":1}\x00',                                 'EINVAL@close'),
    ('NUL in a string',             b'"a\x00b"',                                    'EINVAL@close'),
    ('only NULs',                   b'\x00' * 16,                                   'EINVAL@close'),
    ('raw tab in a string',         b'"a\tb"',                                      'EINVAL@close'),
    ('raw newline in a string',     b'"a\nb"',                                      'EINVAL@close'),
    ('raw 0x1f in a string',        b'"a\x1fb"',                                    'EINVAL@close'),
    ('raw DEL in a string',         b'"a\x7fb"',                                    'ok'),
    ('single quotes',               b"{'a':1}",                                     'EINVAL@close'),
    ('unquoted key',                b'{a:1}',                                       'EINVAL@close'),
    ('line comment',                b'{"a":1} // c',                                'EINVAL@close'),
    ('block comment',               b'/* c */ {"a":1}',                             'EINVAL@close'),
    ('trailing comma in array',     b'[1,2,]',                                      'EINVAL@close'),
    ('trailing comma in object',    b'{"a":1,}',                                    'EINVAL@close'),
    ('unclosed object',             b'{"a":1',                                      'EINVAL@close'),
    ('unclosed string',             b'"abc',                                        'EINVAL@close'),
    ('top-level scalar',            b'42',                                          'ok'),
    ('top-level string',            b'"x"',                                         'ok'),
    ('top-level null',              b'null',                                        'ok'),
    ('capitalised literal',         b'True',                                        'EINVAL@close'),
]

NEW = b'/c/new.json'
EXISTING = b'/c/doc.json'


def materialise(data):
    return data() if callable(data) else data


def json_verify(path, data):
    return lambda: None if read_file(path) == data else 'read back differs'


def restore(path, data):
    return lambda: overwrite(path, data)


def run_json(r):
    for label, gen, expect in JSON_ROWS:
        data = materialise(gen)
        r.check('new document: ' + label, lambda: create(MNT + NEW, data), expect,
                json_verify(MNT + NEW, data), lambda: os.unlink(MNT + NEW))
        r.check('over a document: ' + label, lambda: overwrite(MNT + EXISTING, data), expect,
                json_verify(MNT + EXISTING, data), restore(MNT + EXISTING, DOC))


# Content and files that reach the database by other calls than write.
def other_rows():
    return [
        # label                                 operation                                           expected             undo
        ('rename plain text onto a new .json',  sc('rename', b'/c/notes.txt', NEW),                 'EINVAL',            None),
        ('rename plain text onto a document',   sc('rename', b'/c/notes.txt', EXISTING),            'EINVAL',            None),
        ('truncate a document to 5 bytes',      sc('truncate', EXISTING, 5),                        'EINVAL',            None),
        ('truncate a document to 0',            sc('truncate', EXISTING, 0),                        'EINVAL',            None),
        ('extend a document with zeros',        sc('truncate', EXISTING, 100),                      'EINVAL',            None),
        ('mknod a .json file',                  sc('mknod', NEW, 0o100644),                         'EINVAL',            None),
        ('mkfifo',                              sc('mkfifo', b'/c/fifo'),                           'EPERM',             None),
        ('hard link',                           sc('link', EXISTING, b'/c/hard.json'),              'EPERM',             None),
        ('symlink to 4095 bytes',               sc('symlink', b't' * 4095, b'/c/l'),                'ok',                sc('unlink', b'/c/l')),
        ('symlink to 4096 bytes',               sc('symlink', b't' * 4096, b'/c/l'),                'ENAMETOOLONG',      None),
        ('symlink to nothing',                  sc('symlink', b'', b'/c/l'),                        'ENOENT',            None),
        ('symlink to control bytes',            sc('symlink', b'\x01\xff', b'/c/l'),                'ok',                sc('unlink', b'/c/l')),
    ]


def run_rows(r, rows):
    """Runs rows of (label, operation, expected, undo or None)."""
    for label, fn, expect, undo in rows:
        r.check(label, fn, expect, undo=undo)


def run_other(r):
    run_rows(r, other_rows())


# --- oversize ------------------------------------------------------------------------
# max_doc_size comes from the mount option; the write that crosses it fails
# with EFBIG and nothing of that open is committed (fs.h).

def doc_of(size):
    return b'"' + b's' * (size - 2) + b'"'


def oversize_rows():
    return [
        # label                         operation                                                   expected
        ('new document of max bytes',   lambda: create(MNT + NEW, doc_of(MAX)),                     'ok'),
        ('new document of max+1',       lambda: create(MNT + NEW, doc_of(MAX + 1)),                 'EFBIG@write'),
        ('new document of 4 max',       lambda: create(MNT + NEW, doc_of(4 * MAX)),                 'EFBIG@write'),
        ('document over max+1',         lambda: overwrite(MNT + EXISTING, doc_of(MAX + 1)),         'EFBIG@write'),
        ('opaque file over max+1',      lambda: overwrite(MNT + b'/c/notes.txt', b'b' * (MAX + 1)), 'EFBIG@write'),
        ('pwrite past max',             lambda: pwrite_at(MNT + EXISTING, b'x', MAX),               'EFBIG@write'),
        ('ftruncate to max+1',          lambda: resize(MNT + b'/c/notes.txt', MAX + 1),             'EFBIG@truncate'),
        ('truncate(path) to max+1',     lambda: call('truncate', os.truncate, MNT + b'/c/notes.txt', MAX + 1),
                                                                                                    'EFBIG@truncate'),
    ]


def run_oversize(r):
    for label, fn, expect in oversize_rows():
        r.check(label, fn, expect, undo=lambda: os.unlink(MNT + NEW))


# --- the control file ------------------------------------------------------------------
# Words are separated by whitespace; every word is checked before any runs,
# so a write with one bad word runs nothing.  A write of more than 4096
# bytes is refused (EINVAL) whole: the kernel splits a large write into
# requests, which could cut a word or run half of the commands.

CTL = b'/.control'
STATS = b'/.stats'
CTL_HELP = b'compact\nflush\nsync\ncheckpoint\n'


def ctl(data):
    return lambda: put_file(MNT + CTL, data, 0)


def during_compaction(data):
    """Writes data to .control while another thread compacts."""
    def run():
        stop = threading.Event()

        def compactor():
            while not stop.is_set():
                put_file(MNT + CTL, b'compact\n', 0)
        t = threading.Thread(target=compactor)
        t.start()
        try:
            for _ in range(20):
                put_file(MNT + CTL, data, 0)
        finally:
            stop.set()
            t.join()
    run.compacts = True
    return run


def read_is(path, check):
    def run():
        if not check(call('read', read_file, MNT + path)):
            raise Failed(errno.EIO, 'content')
    return run


def open_for(path, flags):
    return lambda: os.close(call('open', os.open, MNT + path, flags))


def control_rows():
    return [
        # label                                 operation                                               expected
        ('unknown command',                     ctl(b'bogus\n'),                                        'EINVAL@write'),
        ('empty write',                         ctl(b''),                                               'ok'),
        ('only whitespace',                     ctl(b' \n\t\r\n'),                                      'ok'),
        ('command with trailing garbage',       ctl(b'compact now\n'),                                  'EINVAL@write'),
        ('command glued to garbage',            ctl(b'compact;\n'),                                     'EINVAL@write'),
        ('wrong case',                          ctl(b'FLUSH\n'),                                        'EINVAL@write'),
        ('good then bad runs nothing',          ctl(b'flush\nbogus\n'),                                 'EINVAL@write'),
        ('NUL after a command',                 ctl(b'flush\x00\n'),                                    'EINVAL@write'),
        ('only NUL',                            ctl(b'\x00'),                                           'EINVAL@write'),
        ('many commands in one write',          ctl(b'flush\nsync\ncheckpoint flush\tsync\n'),          'ok'),
        ('4096 bytes of commands',              ctl(b'flush\n' * 682 + b'sync'),                        'ok'),
        ('4097 bytes of commands',              ctl(b'flush\n' * 682 + b'sync\n'),                      'EINVAL@write'),
        ('a line of 4097 bytes',                ctl(b'f' * 4097),                                       'EINVAL@write'),
        ('a line of 1 MiB',                     ctl(b'f' * (1 << 20)),                                  'EINVAL@write'),
        ('good, then bad past 1 MiB',           ctl(aligned(b'flush\n' + b' ' * (1 << 20) + b'bogus\n')), 'EINVAL@write'),
        ('a command cut at 1 MiB',              ctl(aligned(b' ' * ((1 << 20) - 2) + b'flush\n')),      'EINVAL@write'),
        ('bad command during compaction',       during_compaction(b'bogus\n'),                          'EINVAL@write'),
        ('flush during compaction',             during_compaction(b'flush\n'),                          'ok'),
        ('read .control',                       read_is(CTL, lambda b: b == CTL_HELP),                  'ok'),
        ('read .stats',                         read_is(STATS, lambda b: 'documents' in json.loads(b)), 'ok'),
        ('truncate .control (shell >)',         lambda: call('truncate', os.truncate, MNT + CTL, 0),    'ok'),
        ('truncate .stats',                     lambda: call('truncate', os.truncate, MNT + STATS, 0),  'EACCES'),
        ('open .stats for writing',             open_for(STATS, os.O_WRONLY),                           'EACCES'),
        ('open .stats with O_TRUNC',            open_for(STATS, os.O_WRONLY | os.O_TRUNC),             'EACCES'),
        ('rename .control away',                lambda: call('rename', os.rename, MNT + CTL, MNT + b'/c/x'), 'EPERM'),
        ('rename .stats away',                  lambda: call('rename', os.rename, MNT + STATS, MNT + b'/x'), 'EPERM'),
        ('rename .stats onto .control',         lambda: call('rename', os.rename, MNT + STATS, MNT + CTL), 'EPERM'),
        ('unlink .control',                     lambda: call('unlink', os.unlink, MNT + CTL),           'EPERM'),
        ('unlink .stats',                       lambda: call('unlink', os.unlink, MNT + STATS),         'EPERM'),
        ('chmod .control',                      lambda: call('chmod', os.chmod, MNT + CTL, 0o666),      'EPERM'),
        ('chmod .stats',                        lambda: call('chmod', os.chmod, MNT + STATS, 0o666),    'EPERM'),
        ('chown .control',                      lambda: call('chown', os.chown, MNT + CTL, 1, 1),       'EPERM'),
        ('utime .stats',                        lambda: call('utime', os.utime, MNT + STATS, (1, 1)),   'EPERM'),
        ('link .control',                       lambda: call('link', os.link, MNT + CTL, MNT + b'/c/x'), 'EPERM'),
        ('rmdir .control',                      lambda: call('rmdir', os.rmdir, MNT + CTL),             'ENOTDIR'),
        ('mkdir inside .stats',                 lambda: call('mkdir', os.mkdir, MNT + STATS + b'/x'),   'ENOTDIR'),
    ]


def engine_runs():
    e = stats()['engine']
    return e['flushes'], e['compactions']


def dirty_memtable():
    """Leaves something in the MemTable, so that a flush that should not
    have run shows in the engine's flush count."""
    create(MNT + b'/c/scratch.tmp', b'x')
    os.unlink(MNT + b'/c/scratch.tmp')


def run_control(r):
    for label, fn, expect in control_rows():
        dirty_memtable()
        before = engine_runs()
        r.check('.control: ' + label, fn, expect)
        if expect != 'ok' and not getattr(fn, 'compacts', False) and engine_runs() != before:
            failures.append('.control: %s: refused, but ran (flushes, compactions %s -> %s)'
                            % (label, before, engine_runs()))


# --- the query namespace and JSON Lines -------------------------------------------------
# qvfs.h: the reserved names of a collection cannot be removed, renamed or
# changed; nothing is created inside a query directory; a name over 255
# bytes is ENAMETOOLONG there as everywhere.  An .import is applied whole or
# not at all (import.h).

def imp(data):
    return lambda: put_file(MNT + b'/c/.import', data, os.O_TRUNC)


LONG = b'x' * 300
W = b'/c/.where'
IX = b'/c/.indexes'


def namespace_rows():
    return [
        # label                                 operation                                           expected             undo
        ('stat a 300-byte name',                sc('stat', b'/c/' + LONG),                          'ENAMETOOLONG',      None),
        ('stat a 300-byte condition',           sc('stat', W + b'/' + LONG),                        'ENAMETOOLONG',      None),
        ('stat a 300-byte name in a query',     sc('stat', W + b'/age>=0/' + LONG),                 'ENAMETOOLONG',      None),
        ('stat a 300-byte index',               sc('stat', IX + b'/' + LONG),                       'ENAMETOOLONG',      None),
        ('mkdir a 300-byte index',              sc('mkdir', IX + b'/' + LONG),                      'ENAMETOOLONG',      None),
        ('rmdir a 300-byte index',              sc('rmdir', IX + b'/' + LONG),                      'ENAMETOOLONG',      None),
        ('mkdir a 255-byte index',              sc('mkdir', IX + b'/' + b'f' * 255),                'ok',                sc('rmdir', IX + b'/' + b'f' * 255)),
        ('mkdir an existing index',             sc('mkdir', IX + b'/age'),                          'EEXIST',            None),
        ('mkdir an index named %',              sc('mkdir', IX + b'/%'),                            'EINVAL',            None),
        ('rename an index',                     sc('rename', IX + b'/age', IX + b'/b'),             'EPERM',             None),
        ('create in .indexes',                  lambda: create(MNT + IX + b'/f'),                   'EPERM',             None),
        ('rmdir .where',                        sc('rmdir', W),                                     'EPERM',             None),
        ('rmdir .indexes',                      sc('rmdir', IX),                                    'EPERM',             None),
        ('unlink .where',                       sc('unlink', W),                                    'EISDIR',            None),
        ('unlink .import',                      sc('unlink', b'/c/.import'),                        'EPERM',             None),
        ('unlink .export.jsonl',                sc('unlink', b'/c/.export.jsonl'),                  'EPERM',             None),
        ('rename .where away',                  sc('rename', W, b'/c/w'),                           'EPERM',             None),
        ('rename .import away',                 sc('rename', b'/c/.import', b'/c/i'),               'EPERM',             None),
        ('rename a collection onto .where',     sc('rename', b'/c/sub', W),                         'EPERM',             None),
        ('rename a collection onto .import',    sc('rename', b'/c/sub', b'/c/.import'),             'ENOTDIR',           None),
        ('chmod .where',                        sc('chmod', W, 0o777),                              'EPERM',             None),
        ('chmod .export.jsonl',                 sc('chmod', b'/c/.export.jsonl', 0o666),            'EPERM',             None),
        ('open .export.jsonl for writing',      open_for(b'/c/.export.jsonl', os.O_WRONLY),         'EACCES',            None),
        ('truncate .export.jsonl',              sc('truncate', b'/c/.export.jsonl', 0),             'EACCES',            None),
        ('open .import for reading',            open_for(b'/c/.import', os.O_RDONLY),               'EACCES',            None),
        ('link onto .import',                   sc('link', EXISTING, b'/c/.import'),                'EEXIST',            None),
        ('create in .where',                    lambda: create(MNT + W + b'/x.json'),               'EPERM',             None),
        ('mkdir a condition that exists',       sc('mkdir', W + b'/age=1'),                         'EEXIST',            None),
        ('mkdir in .where',                     sc('mkdir', W + b'/zz'),                            'EPERM',             None),
        ('symlink in .where',                   sc('symlink', b'x', W + b'/l'),                     'EPERM',             None),
        ('unlink through .where',               sc('unlink', W + b'/doc.json'),                     'EPERM',             None),
        ('rename into .where',                  sc('rename', b'/c/mover.json', W + b'/m.json'),     'EPERM',             None),
        ('rename out of .where',                sc('rename', W + b'/doc.json', b'/c/m.json'),       'EPERM',             None),
        ('invalid JSON through .where',         lambda: overwrite(MNT + W + b'/doc.json', b'{bad'), 'EINVAL@close',      None),
        ('import a line',                       imp(b'{"_id":"imp","a":1}\n'),                      'ok',                sc('unlink', b'/c/imp.json')),
        ('import a good line, then junk',       imp(b'{"_id":"imp","a":1}\n{bad\n'),                'EINVAL@close',      None),
        ('import a line that is an array',      imp(b'{"_id":"imp"}\n[1]\n'),                       'EINVAL@close',      None),
        ('import _id ../x',                     imp(b'{"_id":"../x"}\n'),                            'EINVAL@close',      None),
        ('import _id a/b',                      imp(b'{"_id":"a/b"}\n'),                             'EINVAL@close',      None),
        ('import _id ""',                       imp(b'{"_id":""}\n'),                                'EINVAL@close',      None),
        ('import _id of 260 bytes',             imp(b'{"_id":"' + b'i' * 260 + b'"}\n'),             'EINVAL@close',      None),
        ('import _id with \\u0000',            imp(b'{"_id":"a\\u0000b"}\n'),                       'EINVAL@close',      None),
        ('import _id 1.5',                      imp(b'{"_id":1.5}\n'),                               'EINVAL@close',      None),
        ('import _id true',                     imp(b'{"_id":true}\n'),                              'EINVAL@close',      None),
        ('import a lone surrogate',              imp(b'{"_id":"s","v":"\\ud800"}\n'),                 'EINVAL@close',      None),
        ('import a BOM',                        imp(b'\xef\xbb\xbf{"_id":"b"}\n'),                   'EINVAL@close',      None),
        ('import 100k levels deep',             lambda: imp(b'{"_id":"d","a":' + nest_arrays(DEEP) + b'}\n')(),
                                                                                                    'EINVAL@close',      None),
    ]


def run_namespace(r):
    run_rows(r, namespace_rows())


# --- main -----------------------------------------------------------------------------

def save(path, snap):
    with open(path, 'w') as f:
        json.dump(snap, f, sort_keys=True, indent=1)


def load(path):
    with open(path) as f:
        return json.load(f)


def report(what):
    for f in failures:
        print('FAIL ' + f)
    print('%s, %d failures' % (what, len(failures)))
    return 1 if failures else 0


def main(argv):
    global MNT, MAX
    if len(argv) == 5 and argv[1] == 'run':
        MNT, MAX = os.fsencode(argv[2]), int(argv[3])
        make_fixture()
        r = Runner()
        save(argv[4], r.base)
        for group in (run_names, run_json, run_other, run_oversize, run_control, run_namespace):
            group(r)
        return report('%d rows' % r.rows)
    if len(argv) == 4 and argv[1] == 'compare':
        MNT = os.fsencode(argv[2])
        diff = differences(load(argv[3]), snapshot())
        failures.extend('after a remount: ' + d for d in diff)
        return report('snapshot after a remount')
    print(__doc__.split('\n\n')[1], file=sys.stderr)
    return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
