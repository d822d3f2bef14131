"""The one exception type for bad user input.

Everything that enters natjax from outside (a file, a flag, a config field, a genotype written by
hand) is checked where it enters. A failed check raises `InputError` with a single line that names
what is wrong (the file, the cell, the edge, the op) and, for a misspelling, the closest valid name.
The command line turns it into that one line on stderr and exit code 2; library users can catch it.
"""

from __future__ import annotations

import contextlib
import difflib
from typing import Any, Iterable, Iterator, Optional, Sequence

QUOTE_LIMIT = 80  # characters of user input a message quotes at most


class InputError(ValueError):
  """Bad user input. `str(err)` is one line, fit to show a user as is."""


def closest(name: str, choices: Iterable[str]) -> str:
  """Returns ` (did you mean 'x'?)` for the closest choice, or '' when none is close."""
  match = difflib.get_close_matches(str(name), list(choices), n=1, cutoff=0.5)
  return f" (did you mean '{match[0]}'?)" if match else ""


def quote(value: Any, limit: int = QUOTE_LIMIT) -> str:
  """User input as a message quotes it: `repr` for non-strings, on one line, at most `limit`
  characters (the head, then '... (N characters)' giving the full length)."""
  text = value if isinstance(value, str) else repr(value)
  text = " ".join(text.split()) if "\n" in text or "\r" in text else text
  if len(text) <= limit:
    return text
  return f"{text[:limit - 3]}... ({len(text):,} characters)"


def missing_field(config: Any, fields: Sequence[str]) -> Optional[str]:
  """The first of `fields` that `config` (a ConfigDict or a mapping) lacks, or None."""
  return next((field for field in fields if field not in config), None)


def require_fields(config: Any, fields: Sequence[str], documented_in: str) -> None:
  """Checks that `config` holds every one of `fields` (all a run reads) before any is read.

  Raises:
    InputError: `config has no field 'F' (every field is set in DOCUMENTED_IN)`, the first missing.
  """
  missing = missing_field(config, fields)
  if missing is not None:
    raise InputError(f"config has no field '{missing}' (every field is set in {documented_in})")


@contextlib.contextmanager
def prefixed(where: str) -> Iterator[None]:
  """Puts `where: ` (a config field, a file and its field, a module) before the message of an
  InputError raised in the block, so the one line says where the bad input came from.

  Raises:
    InputError: the block's, as `InputError(f"{where}: {message}")`.
  """
  try:
    yield
  except InputError as err:
    raise InputError(f"{where}: {err}") from None
