"""Every command quoted in README.md's ```bash blocks runs here, in README order.

The commands are read from the README itself, split into steps at ` && `, and run from a fresh
directory that links the repository's configs/, tests/, bench/ and examples/, so paths such as
`runs/quickstart` resolve as they do for a user. `natjax ...` steps run in this process through
`natjax.cli.main` (the console script's function); other steps, and those that use the example
fork (whose registrations must not reach this test process), run in a shell.

Commands whose full form takes minutes to days, or needs what a test machine lacks, are changed by
the explicit tables below, each entry with its reason; every entry must still occur in the README,
so a table cannot outlive the text it changes. The README's first two blocks (install + quickstart,
and the test suite) also run verbatim in CI (`.ci/run`, on a fresh clone).

  SUBSTITUTIONS  README text -> what runs instead (a smaller config, the same code path).
  SKIPPED        steps that make the environment this test already runs in.
  FORK_README    steps that examples/fork/README.md's block holds too, word for word:
                 tests/examples_fork_test.py runs that block (fresh processes, the fork imported),
                 so they run there, once (a test-config search of the fork's space among them).
  TFDS           data preparation, which needs TensorFlow and the network (or ImageNet's tar
                 files): not run; each must equal the command natjax itself prints when the
                 dataset is missing (`natjax.data.tfds.prepare_command`).

The ```python blocks run too (after the blocks, in a fresh interpreter, with the same
SUBSTITUTIONS). Commands quoted in the README's prose run too (INLINE_RUN, after the blocks, some in a smaller
form with its reason), or are listed as fragments (INLINE_FRAGMENTS: a command's name, a synopsis,
an install); a prose command in neither table fails the test.

The search directory that later commands need (`runs/quickstart`) is the one the first block's
search writes (a module-scoped fixture).
"""

import contextlib
import json
import os
import re
import shlex
import subprocess
import sys

import pytest

from natjax import cli
from natjax.data import tfds

REPO = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
README = os.path.join(REPO, "README.md")

# One epoch of two steps of a C=4, 3-cell network: compiles and runs the retraining path.
_TINY_RETRAIN = ("--config.epochs=1 --config.max_steps_per_epoch=2 --config.channels=4"
                 " --config.num_cells=3 --config.progress=false")
SUBSTITUTIONS = {
    "configs/quickstart.py": (
        "configs/test.py",
        "the quickstart search takes about 6 minutes; configs/test.py runs the same loop, derivation"
        " and policy export in about a minute"),
    "python -m pytest tests -q -n 2": (
        f"{sys.executable} -m pytest tests -q -n 0 --collect-only",
        "the suite cannot run inside itself: collected only (every test module imports)"),
    "--config configs/retrain_digits.py": (
        f"--config configs/retrain_digits.py {_TINY_RETRAIN}",
        "15 epochs: one epoch of two steps at C=4, 3 cells"),
    "--config configs/retrain_cifar10.py": (
        "--config configs/retrain_cifar10.py --config.dataset=digits --config.auxiliary=false"
        f" --config.cutout_size=0 --config.batch_size=64 --config.eval_batch_size=100 {_TINY_RETRAIN}",
        "600 epochs on CIFAR-10 (not prepared on a test machine, days on a GPU): the same config"
        " on the digits shipped with scikit-learn, tiny"),
}
SKIPPED = {
    "python3 -m venv .venv": "this test runs inside the installed environment",
    ". .venv/bin/activate": "this test runs inside the installed environment",
    "pip install -c constraints/lock.txt -e '.[test]'": "this test runs inside the installed environment",
    "pip install tensorflow": "needs the network; TensorFlow only prepares data (TFDS below)",
    "pip install -c constraints/lock.txt .": "the base install: CI's second Python installs and runs it",
    "pip install -c constraints/lock.txt '.[tfds]'": "an extra of the installed environment",
    "pip install -c constraints/lock.txt '.[cuda12,tfds]'": "needs an NVIDIA GPU",
}
TFDS = {"tfds build cifar10": "cifar10", "tfds build imagenet2012": "imagenet2012"}
FORK_README = os.path.join(REPO, "examples", "fork", "README.md")

# Commands quoted inside the README's prose (`...` spans starting with natjax, python, pip, bash
# or a bench/ shell script, after any environment assignments and `nice`). Each is run (as
# written, or in the smaller form given with its reason) after the blocks, from the same
# directory, or is listed as a fragment: a command's name or synopsis that prose refers to, whose
# runnable form is in a block, or an install that makes an environment.
_MALLOC = "MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000"
_DEVICE_SMOKE = "NATJAX_BENCH_SIZE=tiny bench/device.sh"
# The same arguments as bench/device.sh's tiny case, so that they load its compiled programs.
_AFTER_DEVICE_SMOKE = (
    f"{_MALLOC} nice python bench/supernet.py --config tiny --no-all-ops --archs 1 --rounds 1",
    f"{_MALLOC} nice python bench/search_step.py --size tiny --batch 16 --steps 1")
_RUN_BY_DEVICE_TEST = (_DEVICE_SMOKE,) + _AFTER_DEVICE_SMOKE
INLINE_RUN = {
    "natjax archs": ("natjax archs", ""),
    "natjax cost --arch PC_DARTS_IMAGENET --network imagenet --convention ptflops": (
        "natjax cost --arch PC_DARTS_IMAGENET --network imagenet --convention ptflops", ""),
    "python bench/transform.py": (
        "python bench/transform.py --max-batch 16 --repeats 1",
        "batches up to 65,536 with 5 repeats: batches 1 and 16, one repeat"),
    "python bench/ops.py --ops <the 9 'darts' ops> --stride 1": (
        "python bench/ops.py --ops sep_conv_3x3,max_pool_3x3,skip_connect --stride 1 --channels 4"
        " --hw 8 --batch 2 --repeats 1",
        "9 ops at C=20, 32x32, batch 64: 3 of them, tiny"),
    "python bench/nat_claim.py runs/quickstart": (
        f"python bench/nat_claim.py runs/quickstart --seeds 1 --random-inputs 0 {_TINY_RETRAIN}",
        "30 minutes of retraining: one seed, no random inputs, the tiny retraining above"),
    "python bench/edge_moves.py runs/quickstart": (
        "python bench/edge_moves.py runs/quickstart --archs 2", "100 random inputs: 2"),
    f"{_MALLOC} nice python bench/supernet.py --config search": (
        _AFTER_DEVICE_SMOKE[0],
        "minutes of compile and several GB at C=20, 8 cells: C=4, 3 cells, one architecture"),
    f"{_MALLOC} nice python bench/search_step.py": (
        _AFTER_DEVICE_SMOKE[1],
        "the search config's steps compile for a minute: C=4, 3 cells, one timed step"),
    # The device script's three forms run one smoke run, and the two benchmarks above run there
    # too, after it (test_the_device_script_prints_its_figures): the same programs as the
    # script's, compiled once for the suite's shared cache instead of twice at once.
    "bench/device.sh": (_DEVICE_SMOKE, "the search config takes minutes per benchmark: tiny"),
    "NATJAX_BENCH_SIZE=small bench/device.sh": (
        _DEVICE_SMOKE, "about 25 minutes on a 2-core CPU: the tiny size, the same four benchmarks"),
    _DEVICE_SMOKE: (_DEVICE_SMOKE, ""),
}
INLINE_FRAGMENTS = {
    "pip install .": "an install (the base install: CI's second Python runs it)",
    "pip install -c constraints/lock.txt": "part of the install command in the first block",
    "bash constraints/update.sh": "regenerates the lock files with uv from the package index",
    "pip install -c constraints/lowest.txt -e '.[test]'": "an install into a fresh environment",
    "pip install 'natjax[tfds]'": "an install (the tfds extra; the test extra holds it)",
    "pip install tensorboard": "an install (TensorBoard, to view the event files; not needed)",
    "natjax retrain": "a command's name; its runs are in the Retraining blocks",
    "natjax compare": "a command's name; it runs in the Retraining block",
    "natjax plot": "a command's name; it runs in the quickstart and Retraining blocks",
    "natjax plot RUN_DIR [--out DIR]": "a synopsis; it runs in the quickstart and Retraining blocks",
    "natjax search": "a command's name; it runs in the first block",
    "natjax search --config CONFIG --workdir DIR [--config.FIELD=VALUE ...]": "a synopsis",
    "natjax transform": "a command's name; it runs in the Command line blocks",
    "natjax transform --policy": "a command's name; it runs in the Command line blocks",
    "natjax transform --policy DIR": "a synopsis; the trained form runs in a block",
    "natjax transform --policy init": "a synopsis; it runs in the Command line blocks",
    "natjax COMMAND --help": "a synopsis",
    "natjax export --form darts": "an option's name; export runs in the Command line blocks",
    "natjax cost --convention": "an option's name",
    "python bench/versus_reference.py --reference DIR --torch-python PY": (
        "needs a checkout of the authors' code and an interpreter with torch"),
}
TFDS_DATA_DIR = "~/tensorflow_datasets"


def inline_commands(text):
  """The commands quoted in a Markdown text's prose (outside fenced blocks), line breaks joined."""
  prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
  spans = re.findall(r"`((?:[A-Z][A-Z0-9_]*=\S* )*(?:nice )?(?:(?:natjax|python|pip|bash) [^`]*"
                     r"|bench/\w+\.sh[^`]*))`", prose)
  return list(dict.fromkeys(" ".join(span.split()) for span in spans))


def bash_blocks(text):
  """The ```bash blocks of a Markdown text: lists of commands (continuation lines joined)."""
  blocks = re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M)
  return [[c.strip() for c in block.replace("\\\n", " ").splitlines() if c.strip()]
          for block in blocks]


def python_blocks(text):
  """The ```python blocks of a Markdown text, as source strings."""
  return re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)


def steps(command):
  """A command's steps: the parts between ` && `."""
  return [s.strip() for s in command.split(" && ")]


def substituted(step):
  for text, (replacement, _) in SUBSTITUTIONS.items():
    step = step.replace(text, replacement)
  return step


def run_step(step):
  """Runs one (substituted) step from the current directory; returns (exit code, output)."""
  if step.startswith("natjax ") and "examples" not in step:
    try:
      return cli.main(shlex.split(step)[1:]), ""
    except SystemExit as exit_info:  # argparse: a bad flag
      return exit_info.code, ""
  proc = subprocess.run(["bash", "-c", step], capture_output=True, text=True, check=False,
                        env={**os.environ, "PATH": os.path.dirname(sys.executable) + os.pathsep
                             + os.environ["PATH"]})
  return proc.returncode, proc.stdout[-3000:] + proc.stderr[-3000:]


def _blocks():
  with open(README, encoding="utf-8") as f:
    return bash_blocks(f.read())


BLOCKS = _blocks()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
  """A fresh directory with configs/ and tests/ linked, after the README's first block ran there
  (the quickstart search, substituted): later commands find runs/quickstart in it."""
  root = tmp_path_factory.mktemp("readme")
  _link_repository_dirs(root)
  with contextlib.chdir(root):
    for command in BLOCKS[0]:
      _run_command(command)
  return root


def _fork_readme_steps():
  """The steps of examples/fork/README.md's first ```bash block."""
  with open(FORK_README, encoding="utf-8") as f:
    blocks = bash_blocks(f.read())
  return {step for command in blocks[0] for step in steps(command)} if blocks else set()


FORK_STEPS = _fork_readme_steps()


def _skipped(step):
  """Whether a step (its trailing '# comment' aside) is one the SKIPPED table names, or one
  that the example fork's README runs (FORK_README)."""
  step = step.split(" #")[0].strip()
  return step in SKIPPED or step in FORK_STEPS


def _link_repository_dirs(root):
  """Links the repository's configs/, tests/, bench/ and examples/ into `root`."""
  for name in ("configs", "tests", "bench", "examples"):
    os.symlink(os.path.join(REPO, name), os.path.join(root, name))


def _run_prose_command(command):
  """Runs a prose command's runnable form (its `python` as this interpreter) from the current
  directory, asserts it succeeded, and returns its output's tail."""
  code, output = run_step(command.replace("python ", f"{sys.executable} ", 1))
  assert code == 0, f"README command failed ({code}): {command}\n{output}"
  return output


def _run_command(command):
  for step in steps(command):
    if _skipped(step):
      continue
    if any(step.startswith(prefix) for prefix in TFDS):
      continue  # test_data_preparation_commands
    code, output = run_step(substituted(step))
    assert code == 0, f"README command failed ({code}): {substituted(step)}\n{output}"


def test_the_tables_match_the_readme():
  with open(README, encoding="utf-8") as f:
    text = f.read()
  for entry in list(SUBSTITUTIONS) + list(SKIPPED) + list(TFDS):
    assert entry in text, f"table entry no longer in README.md: {entry}"
  assert len(BLOCKS) >= 7
  for block in BLOCKS:
    for command in block:
      for step in steps(command):
        known = (_skipped(step) or any(step.startswith(p) for p in TFDS)
                 or step.startswith(("natjax ", "python ")))
        assert known, f"README step that this test does not know how to run: {step}"


def test_every_readme_command_runs(workspace):
  """The blocks after the first, in README order (one test: later blocks read what earlier ones
  wrote, and a distributed run must not repeat the search on two workers)."""
  run = workspace / "runs" / "quickstart"
  for name in ("derived.json", "summary.json", "DARTS.svg", "policy/policy.json", "config.json"):
    assert (run / name).exists(), name
  with contextlib.chdir(workspace):
    for block in BLOCKS[1:]:
      for command in block:
        _run_command(command)
  assert (run / "transformed.json").exists()
  assert (workspace / "out" / "init.json").exists()
  for name in ("retrain_digits", "darts_c10", "nat_darts_c10"):
    assert (workspace / "runs" / name / "retrain.json").exists(), name
  assert (workspace / "compare.png").exists()
  for plot in ("curves.png", "candidates.png"):
    assert (run / plot).stat().st_size > 0, plot
  assert (workspace / "runs" / "darts_c10" / "curves.png").stat().st_size > 0


def test_the_pictures_are_in_the_repository():
  with open(README, encoding="utf-8") as f:
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", f.read())
  assert links
  for link in links:
    assert "://" not in link, link
    path = os.path.join(REPO, link)
    with open(path, "rb") as f:
      assert f.read(8) == b"\x89PNG\r\n\x1a\n", link
    assert os.path.getsize(path) < 200_000, link


def test_every_command_in_the_prose_is_run_or_a_fragment():
  with open(README, encoding="utf-8") as f:
    found = inline_commands(f.read())
  unknown = [c for c in found if c not in INLINE_RUN and c not in INLINE_FRAGMENTS]
  assert not unknown, f"README commands this test does not know: {unknown}"
  stale = [c for c in list(INLINE_RUN) + list(INLINE_FRAGMENTS) if c not in found]
  assert not stale, f"table entries no longer in README.md's prose: {stale}"


def test_the_commands_in_the_prose_run(workspace):
  """After the blocks' search (the fixture): each prose command, in its runnable form."""
  with contextlib.chdir(workspace):
    for command in dict.fromkeys(command for command, _ in INLINE_RUN.values()):
      if command not in _RUN_BY_DEVICE_TEST:  # test_the_device_script_prints_its_figures
        _run_prose_command(command)
  assert (workspace / "runs" / "quickstart" / "nat_claim").is_dir()


def test_the_device_script_prints_its_figures(tmp_path):
  """`bench/device.sh` at its tiny size: a line naming the backend, then one JSON line from each
  of its four benchmarks, each naming the kernel form or backend it ran. Then the README's two
  benchmark commands led by MALLOC_ settings and `nice`, at the same tiny size, from a directory
  that links the repository's directories (their programs are the script's, so they load from
  the compilation cache)."""
  device_script = lambda size: subprocess.run(
      ["bash", os.path.join(REPO, "bench", "device.sh")], capture_output=True, text=True,
      check=False, env={**os.environ, "NATJAX_BENCH_SIZE": size, "PYTHON": sys.executable})
  proc = device_script("tiny")
  assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
  lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
  assert len(lines) == 5, proc.stdout
  device, supernet_line, step_line, transform_line, derive_line = lines
  assert device["backend"] == "cpu" and device["devices"] >= 1, device
  assert supernet_line["config"] == "tiny" and supernet_line["compiles"] == 1, supernet_line
  assert supernet_line["impl"] == "shift", supernet_line  # 'auto' on CPU
  assert step_line["config"] == "tiny" and step_line["channels"] == 4, step_line
  assert step_line["w_step_ms"] > 0 and step_line["theta_step_ms"] > 0, step_line
  assert transform_line["best_batch"] in (1, 16) and transform_line["archs_per_s"] > 0
  assert derive_line["config"] == "tiny" and derive_line["archs_scored"][0] >= 1, derive_line
  bad = device_script("huge")
  assert bad.returncode == 2 and "NATJAX_BENCH_SIZE must be" in bad.stderr, bad.stderr
  _link_repository_dirs(tmp_path)
  with contextlib.chdir(tmp_path):
    for command in _AFTER_DEVICE_SMOKE:
      assert '"config": "tiny"' in _run_prose_command(command)


def test_the_python_examples_run(workspace):
  """After the blocks' search (the fixture): each ```python block, substituted, in a fresh
  interpreter from the same directory."""
  with open(README, encoding="utf-8") as f:
    blocks = python_blocks(f.read())
  assert blocks, "README.md shows no Python example"
  with contextlib.chdir(workspace):
    for block in blocks:
      proc = subprocess.run([sys.executable, "-c", substituted(block)], capture_output=True,
                            text=True, check=False)
      assert proc.returncode == 0, f"README Python example failed:\n{proc.stderr[-3000:]}"
      assert "Genotype(normal=" in proc.stdout, proc.stdout[-3000:]
  assert (workspace / "runs" / "from_python" / "summary.json").exists()


def test_data_preparation_commands():
  commands = [step for block in BLOCKS for command in block for step in steps(command)
              if any(step.startswith(p) for p in TFDS)]
  assert len(commands) == len(TFDS)
  for command in commands:
    name = next(TFDS[p] for p in TFDS if command.startswith(p))
    assert command == tfds.prepare_command(name, TFDS_DATA_DIR)
