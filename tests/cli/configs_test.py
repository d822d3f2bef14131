"""Tests for natjax.cli.configs: loading config files by path and typed command-line overrides."""

import glob
import os

import ml_collections
import pytest

from natjax.cli import configs
from natjax.errors import InputError

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG_FILES = sorted(glob.glob(os.path.join(ROOT, "configs", "*.py")))


def _write(tmp_path, text, name="cfg.py"):
  path = tmp_path / name
  path.write_text(text)
  return str(path)


BASE = '''
import ml_collections

def get_config(arg=None):
  c = ml_collections.ConfigDict()
  c.epochs = 600
  c.lr = 0.025
  c.progress = True
  c.dataset = "cifar10"
  c.data_dir = None
  c.archs = ("DARTS", "ResBlock")
  c.arg = arg
  c.optim = ml_collections.ConfigDict()
  c.optim.momentum = 0.9
  return c
'''


@pytest.mark.parametrize("path", CONFIG_FILES, ids=os.path.basename)
def test_every_config_file_loads_and_documents_its_command(path):
  config = configs.load_config(path)
  assert isinstance(config, ml_collections.ConfigDict) and len(config) > 5
  with open(path, encoding="utf-8") as f:
    text = f.read()
  assert "natjax " in text and os.path.basename(path) in text  # the exact command
  assert "--workdir" in text


def test_retrain_configs_share_one_field_list():
  names = [os.path.join(ROOT, "configs", f"retrain_{n}.py") for n in ("cifar10", "imagenet",
                                                                       "digits")]
  fields = [set(configs.load_config(n).keys()) for n in names]
  assert fields[0] == fields[1] == fields[2]


def test_overrides_take_the_type_of_the_field(tmp_path):
  path = _write(tmp_path, BASE)
  config = configs.load_config(path, [
      "--config.epochs=3", "--config.lr=1e-2", "--config.progress=false",
      "--config.dataset", "digits", "--config.data_dir=/data", "--config.archs=DARTS,VGG",
      "--config.optim.momentum=0.5"])
  assert config.epochs == 3 and isinstance(config.epochs, int)
  assert config.lr == 0.01 and isinstance(config.lr, float)
  assert config.progress is False
  assert config.dataset == "digits"
  assert config.data_dir == "/data"
  assert config.archs == ("DARTS", "VGG")
  assert config.optim.momentum == 0.5
  config = configs.load_config(path, ["--config.lr=1", "--config.archs=('R1',)",
                                      "--config.data_dir=None", "--config.progress=1"])
  assert config.lr == 1.0 and isinstance(config.lr, float)
  assert config.archs == ("R1",) and config.data_dir is None and config.progress is True


def test_the_argument_after_the_colon_reaches_get_config(tmp_path):
  path = _write(tmp_path, BASE)
  assert configs.load_config(path + ":runlocal").arg == "runlocal"
  assert configs.load_config(path).arg is None


@pytest.mark.parametrize("overrides, message", [
    (["--config.epoch=3"], "--config.epoch: unknown config field (did you mean 'epochs'?)"),
    (["--config.optim.momentun=0.1"], "did you mean 'optim.momentum'?"),
    (["--config.epochs=three"], "--config.epochs=three: expected an int"),
    (["--config.lr=fast"], "expected a float"),
    (["--config.progress=maybe"], "expected a bool"),
    (["--config.epochs"], "no value"),
    (["--epochs=3"], "unrecognized argument '--epochs=3'"),
])
def test_bad_overrides_are_one_line_errors(tmp_path, overrides, message):
  path = _write(tmp_path, BASE)
  with pytest.raises(InputError) as err:
    configs.load_config(path, overrides)
  assert message in str(err.value) and "\n" not in str(err.value)


def test_bad_files_name_the_file(tmp_path):
  missing = str(tmp_path / "none.py")
  with pytest.raises(InputError, match="none.py: not found"):
    configs.load_config(missing)
  no_fn = _write(tmp_path, "x = 1\n", "nofn.py")
  with pytest.raises(InputError, match="nofn.py: defines no get_config"):
    configs.load_config(no_fn)
  broken = _write(tmp_path, "import does_not_exist_anywhere\n", "broken.py")
  with pytest.raises(InputError, match="broken.py: fails to load .*ModuleNotFoundError"):
    configs.load_config(broken)
