"""Atomic file writes: a reader never sees a half-written file, a crash leaves the old one."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
from pathlib import Path

from caegen.core.diagnostics import CaegenError, error


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def ensure_parent(path: Path) -> None:
    """Create `path`'s folder. A file in its place is NotADirectoryError, not FileExistsError
    (which callers read as "the target exists")."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NotADirectoryError(
            errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path.parent)
        ) from None


def os_error_reason(exc: OSError) -> str:
    """Why a path could not be written, in words that name the culprit."""
    if exc.errno == errno.ENOTDIR and exc.filename:
        path = Path(exc.filename)
        in_the_way = [p for p in (path, *path.parents) if p.exists() and not p.is_dir()]
        return f"{in_the_way[0] if in_the_way else path} is a file, not a directory"
    return exc.strerror or str(exc)


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError, AttributeError):
        return 255


def output_problem(path: Path, *, folder: bool) -> str | None:
    """Why `path` cannot be written as a file (or used as a folder to write into), judged
    before any work; None when nothing stands in the way (a full disk shows only when
    writing). An existing file must be a regular one: files are written by replacing
    them, which must never replace a device such as /dev/full."""
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return _creatable(path)
    except OSError as exc:
        return os_error_reason(exc)
    if folder and not stat.S_ISDIR(mode):
        return f"{path} is a file, not a folder"
    if not folder and stat.S_ISDIR(mode):
        return f"{path} is a folder"
    if not folder and not stat.S_ISREG(mode):
        return f"{path} is not a regular file (a device, a FIFO or a socket)"
    where = path if folder else path.parent
    if not os.access(where, os.W_OK | os.X_OK):
        return f"{where} is not writable (permission denied)"
    return None


def _creatable(path: Path) -> str | None:
    """Why the missing `path` could not be created (its nearest existing folder decides)."""
    missing = [path]
    ancestor = path.parent
    while True:
        try:
            mode = os.stat(ancestor).st_mode
            break
        except FileNotFoundError:
            missing.append(ancestor)
            ancestor = ancestor.parent
        except OSError as exc:
            return os_error_reason(exc)
    if not stat.S_ISDIR(mode):
        return f"{ancestor} is a file, not a folder"
    if not os.access(ancestor, os.W_OK | os.X_OK):
        return f"{ancestor} is not writable (permission denied)"
    limit = _name_max(ancestor)
    long = [p.name for p in missing if len(os.fsencode(p.name)) > limit]
    if long:
        return f"the name {long[0][:40]}... is longer than the {limit} bytes a name may have"
    return None


def unwritable(what: str, exc: OSError, hint: str) -> CaegenError:
    """E057 for an output that cannot be created: `what` says what, e.g. "write out.onnx"."""
    return error("E057", f"cannot {what}: {os_error_reason(exc)}", hint)


def fsync_file(path: Path) -> None:
    """Flush a file that another library wrote (e.g. a Keras archive) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _refuse_special(path: Path) -> None:
    """A FIFO, a device or a socket is never replaced by a file (`--out /dev/full` as root
    would otherwise replace the device)."""
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return  # missing (or unreachable: writing will say why)
    if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
        raise OSError(errno.EINVAL, "not a regular file (a FIFO, a device or a socket)", str(path))


def atomic_write_bytes(path: str | Path, data: bytes, mode: int | None = None) -> None:
    """Replace `path` with `data`; `mode` (default: 0666 less the umask) is the new file's."""
    path = Path(path)
    _refuse_special(path)
    ensure_parent(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp's 0600 would hide results from others
        os.fchmod(fd, 0o666 & ~_umask() if mode is None else mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_rewrite_bytes(path: str | Path, data: bytes) -> Path:
    """Replace an existing file's content atomically, as an editor saves it: through a
    symbolic link to the file it points at (the link stays a link), keeping the file's
    permission bits. Returns the path written."""
    target = Path(os.path.realpath(path))
    mode = os.stat(target).st_mode
    if not stat.S_ISREG(mode):  # a FIFO or a device is never replaced by a file
        raise OSError(errno.EINVAL, "not a regular file (a FIFO or a device)", str(target))
    atomic_write_bytes(target, data, mode=stat.S_IMODE(mode))
    return target


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_new_text(path: str | Path, text: str, *, force: bool = False) -> None:
    """Write atomically, refusing to replace an existing file unless `force`."""
    if Path(path).exists() and not force:
        raise FileExistsError(str(path))
    atomic_write_text(path, text)
