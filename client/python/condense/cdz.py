"""Reads .cdz files (condense's compressed models) without a server.

    import condense
    tensors = condense.load_cdz("model.cdz")        # {name: tensor}
    condense.load_into(model, "model.cdz")          # into an nn.Module

Decoding runs in libcdz, the C decoder the package ships (its C API is
codec/include/cdz.h); the values go straight into the arrays returned, with
no copy. Tensors come back as torch tensors when torch is installed, else as
numpy arrays, each in the dtype it was stored with (numpy has no bfloat16:
BF16 tensors come back as float32 there).

The library is looked for in $CONDENSE_LIBCDZ, beside this file, then on the
system's library path."""

import ctypes
import ctypes.util
import json
import os
import threading

import numpy as np

__all__ = ["CdzError", "CdzFile", "TensorInfo", "load_cdz", "load_into"]

# cdz_dtype values (the file format's numbers) -> name, numpy, torch name.
_DTYPES = {
    1: ("F32", np.float32, "float32"),
    2: ("F16", np.float16, "float16"),
    3: ("BF16", None, "bfloat16"),
    4: ("F64", np.float64, "float64"),
    5: ("I64", np.int64, "int64"),
    6: ("I32", np.int32, "int32"),
    7: ("I16", np.int16, "int16"),
    8: ("I8", np.int8, "int8"),
    9: ("U8", np.uint8, "uint8"),
    10: ("BOOL", np.bool_, "bool"),
}
_BY_NAME = {v[0]: k for k, v in _DTYPES.items()}
_FLOATING = {"F32", "F16", "BF16", "F64"}
_ENCODINGS = {0: "raw", 1: "sparse_quantized", 2: "context_coded",
              3: "fixed_width"}
_STATUS = {1: "invalid argument", 2: "not found", 3: "out of range",
           4: "data loss", 5: "resource exhausted", 6: "unimplemented",
           7: "I/O error", 8: "internal"}


# The C API version (include/cdz.h) this module is written against.
_API_VERSION = 2


class CdzError(Exception):
    """A .cdz could not be read: `code` is the C API's cdz_status name."""

    def __init__(self, code, message):
        self.code = _STATUS.get(code, str(code))
        super().__init__(message)


class _TensorInfo(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("name_length", ctypes.c_size_t),
                ("dtype", ctypes.c_int), ("encoding", ctypes.c_int),
                ("rank", ctypes.c_uint32),
                ("shape", ctypes.POINTER(ctypes.c_uint64)),
                ("numel", ctypes.c_uint64), ("stored_bytes", ctypes.c_uint64)]


class _Options(ctypes.Structure):
    _fields_ = [("max_tensor_elements", ctypes.c_uint64),
                ("max_scratch_bytes", ctypes.c_uint64)]


_lib = None
_lib_lock = threading.Lock()


def _library_candidates():
    env = os.environ.get("CONDENSE_LIBCDZ")
    if env:
        yield env
    here = os.path.dirname(os.path.abspath(__file__))
    for name in ("libcdz.so.1", "libcdz.so", "libcdz.dylib"):
        yield os.path.join(here, name)
    found = ctypes.util.find_library("cdz")
    if found:
        yield found


def _library():
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        tried = []
        for path in _library_candidates():
            if os.path.sep in path and not os.path.exists(path):
                tried.append(path)
                continue
            try:
                lib = ctypes.CDLL(path)
                break
            except OSError as e:
                tried.append(f"{path} ({e})")
        else:
            raise CdzError(0, "libcdz, the .cdz decoder, was not found (tried "
                           f"{', '.join(tried) or 'nothing'}): install the "
                           "condense wheel, or set CONDENSE_LIBCDZ to a "
                           "built libcdz.so (build/release/codec/)")
        c = ctypes
        lib.cdz_last_error.restype = c.c_char_p
        lib.cdz_open_file.argtypes = [c.c_char_p, c.POINTER(_Options),
                                      c.POINTER(c.c_void_p)]
        lib.cdz_close.argtypes = [c.c_void_p]
        lib.cdz_close.restype = None
        lib.cdz_format_version.argtypes = [c.c_void_p, c.POINTER(c.c_uint16),
                                           c.POINTER(c.c_uint16)]
        lib.cdz_format_version.restype = None
        lib.cdz_manifest_json.argtypes = [c.c_void_p, c.c_char_p, c.c_size_t,
                                          c.POINTER(c.c_size_t)]
        lib.cdz_tensor_count.argtypes = [c.c_void_p]
        lib.cdz_tensor_count.restype = c.c_size_t
        lib.cdz_tensor_info_at.argtypes = [c.c_void_p, c.c_size_t,
                                           c.POINTER(_TensorInfo)]
        lib.cdz_scratch_new.restype = c.c_void_p
        lib.cdz_scratch_free.argtypes = [c.c_void_p]
        lib.cdz_scratch_free.restype = None
        lib.cdz_decode.argtypes = [c.c_void_p, c.c_size_t, c.c_int,
                                   c.c_void_p, c.c_size_t, c.c_void_p]
        if lib.cdz_api_version() != _API_VERSION:
            raise CdzError(0, f"libcdz at {path} speaks C API version "
                           f"{lib.cdz_api_version()}; this package needs "
                           f"{_API_VERSION}")
        lib.cdz_set_decode_threads.argtypes = [c.c_void_p, c.c_int]
        _lib = lib
        return lib


def _check(lib, status):
    if status != 0:
        raise CdzError(status, lib.cdz_last_error().decode("utf-8", "replace"))


class TensorInfo:
    """What the file says about one tensor, before decoding it."""

    __slots__ = ("index", "name", "dtype", "shape", "numel", "encoding",
                 "stored_bytes")

    def __init__(self, index, raw):
        self.index = index
        self.name = ctypes.string_at(raw.name, raw.name_length).decode("utf-8")
        self.dtype = _DTYPES.get(raw.dtype, ("UNKNOWN",))[0]
        self.shape = tuple(raw.shape[d] for d in range(raw.rank))
        self.numel = raw.numel
        self.encoding = _ENCODINGS.get(raw.encoding, str(raw.encoding))
        self.stored_bytes = raw.stored_bytes

    def __repr__(self):
        return (f"TensorInfo({self.name!r}, {self.dtype}, {list(self.shape)}, "
                f"{self.encoding}, {self.stored_bytes} bytes)")


def _torch():
    try:
        import torch
        return torch
    except ImportError:
        return None


class CdzFile:
    """An open .cdz file: its tensors' infos, its manifest, and decoding of
    any tensor by name. Use as a context manager, or call close(). One
    CdzFile may be read from several threads."""

    def __init__(self, path, max_scratch_bytes=0, threads=None):
        """threads: for the parts of one tensor that decode independently
        (the segments of large context-coded tensors); None: every core."""
        self._lib = _library()
        self._handle = None
        self.path = os.fspath(path)
        options = _Options(0, max_scratch_bytes)
        handle = ctypes.c_void_p()
        _check(self._lib, self._lib.cdz_open_file(
            self.path.encode(), ctypes.byref(options), ctypes.byref(handle)))
        self._handle = handle
        _check(self._lib, self._lib.cdz_set_decode_threads(
            handle, threads if threads is not None else os.cpu_count() or 1))
        self._local = threading.local()
        major, minor = ctypes.c_uint16(), ctypes.c_uint16()
        self._lib.cdz_format_version(handle, ctypes.byref(major),
                                     ctypes.byref(minor))
        self.format_version = (major.value, minor.value)
        self.tensors = []
        raw = _TensorInfo()
        for i in range(self._lib.cdz_tensor_count(handle)):
            _check(self._lib, self._lib.cdz_tensor_info_at(handle, i,
                                                          ctypes.byref(raw)))
            self.tensors.append(TensorInfo(i, raw))
        self._by_name = {t.name: t for t in self.tensors}

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def close(self):
        if getattr(self, "_handle", None) is not None:
            self._lib.cdz_close(self._handle)
            self._handle = None

    def _open_handle(self):
        if self._handle is None:
            raise CdzError(1, f"{self.path} is closed")
        return self._handle

    @property
    def manifest(self):
        """{key: value} as written (values are strings; "spec" and "stats"
        hold JSON)."""
        handle = self._open_handle()
        length = ctypes.c_size_t()
        _check(self._lib, self._lib.cdz_manifest_json(handle, None, 0,
                                                      ctypes.byref(length)))
        buf = ctypes.create_string_buffer(length.value + 1)
        _check(self._lib, self._lib.cdz_manifest_json(
            handle, buf, len(buf), ctypes.byref(length)))
        return json.loads(buf.value.decode("utf-8"))

    def names(self):
        return [t.name for t in self.tensors]

    def info(self, name):
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"no tensor named {name!r} in {self.path}") from None

    def _scratch(self):
        # One per thread: the C API's scratch is not shared between threads.
        s = getattr(self._local, "scratch", None)
        if s is None:
            s = self._lib.cdz_scratch_new()
            self._local.scratch = s
            # Freed with the thread-local, when the thread or file goes.
            self._local.finalizer = _Finalizer(self._lib, s)
        return s

    def read(self, name, framework="auto", dtype=None):
        """Decodes one tensor. framework: "auto" (torch when it imports,
        else numpy), "torch" or "numpy". dtype: None keeps the stored dtype;
        "float32", "float16", "bfloat16" or "float64" converts a floating
        tensor (rounded to nearest even)."""
        info = self.info(name)
        torch = _torch() if framework in ("auto", "torch") else None
        if framework == "torch" and torch is None:
            raise ImportError("framework='torch' needs torch installed")
        if framework not in ("auto", "torch", "numpy"):
            raise ValueError(f"framework must be auto, torch or numpy, not "
                             f"{framework!r}")
        as_name = info.dtype
        if dtype is not None:
            as_name = {"float32": "F32", "float16": "F16", "bfloat16": "BF16",
                       "float64": "F64"}.get(str(dtype).replace("torch.", ""))
            if as_name is None or info.dtype not in _FLOATING:
                raise ValueError(
                    f"tensor {name!r} is {info.dtype}: dtype must be None"
                    + (" or one of float32, float16, bfloat16, float64"
                       if info.dtype in _FLOATING else ""))
        if torch is None and as_name == "BF16":
            as_name = "F32"  # numpy has no bfloat16.
        code = _BY_NAME.get(as_name)
        if code is None:
            raise CdzError(4, f"tensor {name!r} has an unknown dtype")
        if torch is not None:
            out = torch.empty(info.shape,
                              dtype=getattr(torch, _DTYPES[code][2]))
            pointer, nbytes = out.data_ptr(), out.numel() * out.element_size()
        else:
            out = np.empty(info.shape, dtype=_DTYPES[code][1])
            pointer, nbytes = out.ctypes.data, out.nbytes
        _check(self._lib, self._lib.cdz_decode(
            self._open_handle(), info.index, code, pointer, nbytes,
            self._scratch()))
        return out

    def items(self, framework="auto"):
        for t in self.tensors:
            yield t.name, self.read(t.name, framework)


class _Finalizer:
    def __init__(self, lib, scratch):
        self._free, self._scratch = lib.cdz_scratch_free, scratch

    def __del__(self):
        self._free(self._scratch)


def load_cdz(path, framework="auto", dtype=None, threads=None):
    """Decodes every tensor of a .cdz: {name: tensor} in file order (torch
    tensors when torch imports, else numpy arrays; see CdzFile.read for
    framework and dtype, CdzFile for threads)."""
    with CdzFile(path, threads=threads) as f:
        return {t.name: f.read(t.name, framework, dtype
                               if t.dtype in _FLOATING else None)
                for t in f.tensors}


def load_into(module, path, strict=True):
    """Loads a .cdz into a torch.nn.Module (or a TorchScript module) by
    state_dict name, converting to each parameter's dtype. Tied parameters
    (one tensor under several names) are filled from whichever name the
    file holds. With strict, names on one side only are an error naming
    them. Returns load_state_dict's (missing_keys, unexpected_keys)."""
    torch = _torch()
    if torch is None:
        raise ImportError("load_into needs torch installed")
    state = load_cdz(path, framework="torch")
    own = module.state_dict(keep_vars=True)
    by_storage = {}
    for name, t in own.items():
        if t.numel():
            by_storage.setdefault(t.data_ptr(), []).append(name)
    for names in by_storage.values():
        held = [n for n in names if n in state]
        for n in names:
            if held and n not in state:
                state[n] = state[held[0]]
    return module.load_state_dict(state, strict=strict)
