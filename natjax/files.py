"""Paths and files that a user names: where they enter natjax, and every read and write of them.

Each check fails with one `InputError` line naming the path and the problem, never a traceback:

  reading   a missing or unreadable file, a directory where a file is wanted, bytes that are not
            UTF-8 text, malformed JSON, JSON nested too deeply for Python's parser (thousands of
            levels: RecursionError), a remote URL.
  writing   an output file that is an existing directory, an output directory that is an existing
            file, a parent that is a file, a folder that cannot be created (permissions), a remote
            URL. Missing parent folders are created, for every output of every command (files
            and work directories alike).

Paths are made absolute where they enter (`local_path`), so that what reaches orbax (which needs
absolute paths: `Checkpointer.metadata` on a relative path returns no tree) and every later
`os.path.join` does not depend on the current directory.

Remote paths (`gs://bucket/...` and any other `scheme://`) are refused: natjax writes with local
file APIs (open and rename for atomic JSON, tensorboardX, matplotlib), which would silently turn
`gs://b/run` into a local folder `gs:/b/run`. A bucket mounted as a folder (e.g. with gcsfuse)
works as a local path.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from typing import Any, Iterator

from natjax.errors import InputError

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def local_path(path: Any, what: str = "path") -> str:
  """The absolute form of a local path (`~` expanded).

  Args:
    path: a path as the user wrote it (str or os.PathLike).
    what: what the path is for, named in the message ('work directory', '--out').

  Raises:
    InputError: an empty path, or a URL such as gs://bucket/dir (not supported; see the module
      docstring).
  """
  text = os.fspath(path)
  if not str(text).strip():
    raise InputError(f"{what}: empty path")
  refuse_url(text, what)
  return os.path.abspath(os.path.expanduser(text))


def refuse_url(text: Any, what: str) -> None:
  """Refuses a URL such as gs://bucket/dir by name (natjax reads and writes local files).

  Args:
    text: what the user wrote for a path, or for something that may be one (an --arch).
    what: what it is for, named in the message ('--arch', 'work directory').

  Raises:
    InputError: `WHAT 'URL': SCHEME:// paths are not supported ...`, one line.
  """
  if _URL.match(str(text)):
    scheme = str(text).split("://", 1)[0]
    raise InputError(f"{what} '{text}': {scheme}:// paths are not supported (natjax reads"
                     " and writes local files); mount the bucket as a folder (e.g. gcsfuse) and"
                     " pass that folder")


def _where(path: Any, what: str) -> str:
  """'WHAT PATH' for messages (just the path when `what` is empty). Paths are shown whole: the
  user needs all of one to find the file."""
  shown = os.fspath(path)
  return f"{what} {shown}" if what else shown


def read_text(path: Any, what: str = "") -> str:
  """The whole UTF-8 text of a file.

  Args:
    path: the file, as the user wrote it.
    what: what the file is, prefixed to messages ('transition rule file'); '' for just the path.

  Raises:
    InputError: '[WHAT ]PATH: ...' for a URL, a missing file, a directory, a file that cannot be
      read or is not UTF-8 text.
  """
  where = _where(path, what)
  full = local_path(path, what or "file")
  if os.path.isdir(full):
    raise InputError(f"{where}: is a directory, not a file")
  try:
    with open(full, encoding="utf-8") as f:
      return f.read()
  except FileNotFoundError:
    raise InputError(f"{where}: not found") from None
  except OSError as err:
    raise InputError(f"{where}: cannot read ({err.strerror})") from None
  except UnicodeDecodeError as err:
    raise InputError(f"{where}: not a UTF-8 text file (byte {err.start})") from None


def parse_json(text: str, where: str) -> Any:
  """Parses JSON text; `where` prefixes the message (a file name).

  Raises:
    InputError: malformed JSON (line and column), or nesting too deep for the parser.
  """
  try:
    value = json.loads(text)
  except json.JSONDecodeError as err:
    raise InputError(f"{where}: malformed JSON at line {err.lineno}, column {err.colno}:"
                     f" {err.msg}") from None
  except RecursionError:
    raise InputError(f"{where}: JSON nested too deeply (more than {MAX_JSON_DEPTH} levels) to"
                     " read") from None
  if _depth(value) > MAX_JSON_DEPTH:  # Newer Pythons parse it; nothing natjax reads is this deep.
    raise InputError(f"{where}: JSON nested too deeply (more than {MAX_JSON_DEPTH} levels) to read")
  return value


MAX_JSON_DEPTH = 100


def _depth(value: Any) -> int:
  """Nesting depth of parsed JSON, without recursion."""
  deepest, stack = 0, [(value, 1)]
  while stack:
    item, depth = stack.pop()
    if isinstance(item, (list, dict)):
      deepest = max(deepest, depth)
      stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
  return deepest


def read_json(path: Any, what: str = "") -> Any:
  """`read_text` then `parse_json`; an empty file is an error too ('PATH: file is empty')."""
  text = read_text(path, what)
  where = _where(path, what)
  if not text.strip():
    raise InputError(f"{where}: file is empty")
  return parse_json(text, where)


def _check_parents(full: str, shown: str, what: str) -> None:
  """Refuses a path whose existing ancestor is a file (no folder can be made under it)."""
  parent = os.path.dirname(full)
  while not os.path.exists(parent):  # The root always exists.
    parent = os.path.dirname(parent)
  if not os.path.isdir(parent):
    raise InputError(f"{what} '{shown}': {parent} is a file, not a folder")


def _check_output(path: Any, what: str, directory: bool) -> str:
  """The absolute path, after refusing a URL, an existing entry of the other kind (a directory
  where a file is wanted, or a file where a directory is) and an ancestor that is a file."""
  shown = os.fspath(path)
  full = local_path(path, what)
  if directory and os.path.exists(full) and not os.path.isdir(full):
    raise InputError(f"{what} '{shown}': is an existing file, not a directory")
  if not directory and os.path.isdir(full):
    raise InputError(f"{what} '{shown}': is an existing directory; give a file name")
  _check_parents(full, shown, what)
  return full


def check_output_file(path: Any, what: str = "output file") -> str:
  """The absolute path of a file to be written, checked (not created): InputError for a URL, an
  existing directory at the path, or an ancestor that is a file."""
  return _check_output(path, what, directory=False)


def check_output_dir(path: Any, what: str = "output directory") -> str:
  """The absolute path of a directory to be used or made, checked (not created): InputError for
  a URL, an existing file at the path, or an ancestor that is a file."""
  return _check_output(path, what, directory=True)


def _make_folder(folder: str, path: Any, what: str) -> None:
  try:
    os.makedirs(folder, exist_ok=True)
  except OSError as err:
    raise InputError(f"{what} '{os.fspath(path)}': cannot create {folder}"
                     f" ({err.strerror})") from None


def output_file(path: Any, what: str = "output file") -> str:
  """`check_output_file`, then the missing parent folders are made; returns the absolute path.

  Raises:
    InputError: as `check_output_file`, or a folder that cannot be made (permissions).
  """
  full = check_output_file(path, what)
  _make_folder(os.path.dirname(full), path, what)
  return full


def output_dir(path: Any, what: str = "output directory") -> str:
  """`check_output_dir`, then the directory and its missing parents are made; returns the
  absolute path.

  Raises:
    InputError: as `check_output_dir`, or a folder that cannot be made (permissions).
  """
  full = check_output_dir(path, what)
  _make_folder(full, path, what)
  return full


@contextlib.contextmanager
def removed_if_unused(directory: str) -> Iterator[None]:
  """Removes `directory` and the parents made for it, if they did not exist on entry and the
  block raises while they are still empty: a run that fails on its input leaves nothing behind,
  while a run that wrote anything (a checkpoint to resume from) keeps it."""
  full = os.path.abspath(directory)
  top = full
  while not os.path.exists(os.path.dirname(top)) and os.path.dirname(top) != top:
    top = os.path.dirname(top)
  existed = os.path.exists(full)
  try:
    yield
  except BaseException:
    if not existed:
      _remove_empty(full, top)
    raise


def _remove_empty(full: str, top: str) -> None:
  """Removes `full` and its parents up to `top` while each is an empty directory (or a tree of
  empty directories)."""
  path = full
  while True:
    if not os.path.isdir(path) or any(files for _, _, files in os.walk(path)):
      return
    shutil.rmtree(path, ignore_errors=True)
    if path == top:
      return
    path = os.path.dirname(path)


def write_text(path: Any, text: str, what: str = "output file") -> str:
  """Writes UTF-8 text to a file (`output_file` first: parents made, bad paths refused).

  Returns:
    the absolute path.

  Raises:
    InputError: as `output_file`, or a file that cannot be written (permissions).
  """
  full = output_file(path, what)
  try:
    with open(full, "w", encoding="utf-8") as f:
      f.write(text)
  except OSError as err:
    raise InputError(f"{what} '{os.fspath(path)}': cannot write ({err.strerror})") from None
  return full
