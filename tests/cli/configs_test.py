"""Tests for natjax.cli.configs: config files by path, typed command-line overrides, locking."""

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
  c.data_dir = ml_collections.config_dict.placeholder(str)
  c.image_size = ml_collections.config_dict.placeholder(int)
  c.unset = None
  c.archs = ("DARTS", "ResBlock")
  c.arg = arg
  c.optim = ml_collections.ConfigDict()
  c.optim.momentum = 0.9
  return c
'''

# A config building on configs/default.py as the ones under configs/ do.
ON_DEFAULT = '''
import sys
sys.path.insert(0, {configs!r})
import default

def get_config():
  c = default.get_config()
  c.channels = 4
  {line}
  return c
'''


@pytest.mark.parametrize("path", CONFIG_FILES, ids=os.path.basename)
def test_every_config_file_loads_locked_and_documents_its_command(path):
  config = configs.load_config(path)
  assert isinstance(config, ml_collections.ConfigDict) and len(config) > 5
  assert config.is_locked
  with pytest.raises(AttributeError):
    config.not_a_field = 1
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
      "--config.dataset", "digits", "--config.data_dir=/data", "--config.image_size=32",
      "--config.archs=('DARTS', 'VGG')", "--config.optim.momentum=0.5"])
  assert config.epochs == 3 and isinstance(config.epochs, int)
  assert config.lr == 0.01 and isinstance(config.lr, float)
  assert config.progress is False
  assert config.dataset == "digits"
  assert config.data_dir == "/data" and config.image_size == 32
  assert config.archs == ("DARTS", "VGG")
  assert config.optim.momentum == 0.5
  config = configs.load_config(path, ["--config.lr=1", "--config.archs=R1", "--config.progress=1",
                                      "--config.optim.momentum", "0"])
  assert config.lr == 1.0 and isinstance(config.lr, float)
  assert config.archs == ("R1",) and config.progress is True and config.data_dir is None
  assert config.optim.momentum == 0.0 and isinstance(config.optim.momentum, float)
  config = configs.load_config(path, ["--config.archs=ENAS", "--config.archs", "R2",
                                      "--config.epochs=5", "--config.epochs=7"])
  assert config.archs == ("ENAS", "R2") and config.epochs == 7  # repeated: a tuple, the last
  assert config.is_locked


def test_the_real_configs_take_overrides():
  config = configs.load_config(os.path.join(ROOT, "configs", "test.py"), [
      "--config.derive_archs=examples/fork/grouped_darts.json", "--config.impl=lax",
      "--config.theta_lr=1e-2", "--config.progress=False", "--config.data_dir=/tfds"])
  assert config.derive_archs == ("examples/fork/grouped_darts.json",)
  assert (config.impl, config.theta_lr, config.progress, config.data_dir) == (
      "lax", 0.01, False, "/tfds")
  config = configs.load_config(os.path.join(ROOT, "configs", "retrain_imagenet.py"),
                               ["--config.image_size=128", "--config.label_smoothing=0"])
  assert config.image_size == 128 and config.label_smoothing == 0.0


def test_the_argument_after_the_colon_reaches_get_config(tmp_path):
  path = _write(tmp_path, BASE)
  assert configs.load_config(path + ":runlocal").arg == "runlocal"
  assert configs.load_config(path).arg is None
  for name, space in (("nat_cifar10", "enas"), ("natpp_cifar10", "enas_pp")):
    config = configs.load_config(os.path.join(ROOT, "configs", f"{name}.py:enas"))
    assert config.space == space and config.derive_archs == ("ENAS",)
  with pytest.raises(InputError) as err:
    configs.load_config(os.path.join(ROOT, "configs", "nat_cifar10.py:enass"))
  assert str(err.value).endswith("nat_cifar10.py: fails to load (ValueError: nat_cifar10: space"
                                 " must be 'darts' or 'enas', got 'enass')")


@pytest.mark.parametrize("overrides, message", [
    (["--config.epoch=3"], "--config.epoch: unknown config field (did you mean 'epochs'?)"),
    (["--config.optim.momentun=0.1"],
     "--config.optim.momentun: unknown config field (did you mean 'optim.momentum'?)"),
    (["--config.epochs=three"], "--config.epochs=three: expected an int"),
    (["--config.lr=fast"], "--config.lr=fast: expected a float"),
    (["--config.progress=maybe"], "--config.progress=maybe: expected a bool (true/false)"),
    (["--config.image_size=big"], "--config.image_size=big: expected an int"),
    (["--config.archs=DARTS VGG"], "--config.archs=DARTS VGG: expected a tuple"),
    (["--config.unset=1"], "--config.unset: a field holding None cannot be set"),
    (["--config.epochs"], "Missing value for flag --config.epochs"),
    (["--epochs=3"], "unrecognized argument '--epochs=3'"),
    (["--config.epochs=3", "stray"], "unrecognized argument 'stray'"),
])
def test_bad_overrides_are_one_line_errors(tmp_path, overrides, message):
  path = _write(tmp_path, BASE)
  with pytest.raises(InputError) as err:
    configs.load_config(path, overrides)
  assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("line, message", [
    ("c.epoch = 3", "sets 'epoch', not a config field (did you mean 'epochs'?)"),
    ("c.chanels = 3", "sets 'chanels', not a config field (did you mean 'channels'?)"),
    ("c.epochs = 'three'", "fails to load (TypeError: Could not override field 'epochs'"),
])
def test_a_config_on_a_locked_base_cannot_add_a_field(tmp_path, line, message):
  path = _write(tmp_path, ON_DEFAULT.format(configs=os.path.join(ROOT, "configs"), line=line))
  with pytest.raises(InputError) as err:
    configs.load_config(path)
  assert str(err.value).startswith(f"config file {path}: {message}")
  assert "\n" not in str(err.value)
  good = _write(tmp_path, ON_DEFAULT.format(configs=os.path.join(ROOT, "configs"),
                                            line="c.epochs = 3"), "good.py")
  config = configs.load_config(good)
  assert (config.epochs, config.channels, config.num_cells) == (3, 4, 8)


@pytest.mark.parametrize("text, message", [
    (None, "none.py: not found"),
    ("x = 1\n", "none.py: defines no get_config"),
    ("import does_not_exist_anywhere\n", "none.py: fails to load .*ModuleNotFoundError"),
    ("def get_config():\n  raise ValueError('no')\n",
     r"none.py: fails to load \(ValueError: no\)$"),
    ("def get_config():\n  open('/no/such/file.json')\n",
     "none.py: fails to load .*FileNotFoundError.*file.json"),
    ("def get_config():\n  return {'a': 1}\n", "none.py: get_config.. returned dict, not an"),
])
def test_bad_files_name_the_file(tmp_path, text, message):
  configs.load_config(_write(tmp_path, BASE))  # a good file first: its module is not reused
  path = tmp_path / "none.py"
  if text is not None:
    path.write_text(text)
  with pytest.raises(InputError, match=message):
    configs.load_config(str(path))


def test_a_directory_is_not_a_config_file(tmp_path):
  with pytest.raises(InputError, match="is a directory"):
    configs.load_config(str(tmp_path))
