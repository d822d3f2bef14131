"""Tests for natjax.train.checkpoints: the packed state format (one array per dtype and a
layout), its round trip, checkpoints of the earlier per-leaf form, and damaged checkpoints."""

import json
import os
import shutil
import subprocess
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest

import drivers
from natjax.errors import InputError
from natjax.io import orbax_files
from natjax.train import checkpoints


class _State(NamedTuple):
  step: jax.Array
  params: dict
  opt: tuple
  rng: jax.Array


def _random_state(seed, layers=30):
  """A state of the search state's kinds of leaves: int32 scalars, float32 weights of many
  shapes (some of them empty; the shapes depend on `layers` alone), an optimiser tuple with an
  int32 count, bfloat16, a raw uint32 key."""
  rng = np.random.default_rng(seed)
  shapes = np.random.default_rng(0).integers(1, 5, size=(layers, 3))  # the same for every seed
  params = {f"cell{i}": {"w": jnp.asarray(rng.normal(size=tuple(shapes[i, :i % 4])),
                                          jnp.float32),
                         "b": jnp.asarray(rng.normal(size=(i % 3,)), jnp.float32)}
            for i in range(layers)}
  opt = (jnp.int32(seed), jax.tree.map(lambda a: 0.5 * a, params),
         jnp.asarray(rng.normal(size=(3, 2)), jnp.bfloat16))
  return _State(jnp.int32(7 + seed), params, opt, jax.random.key_data(jax.random.key(seed)))


@pytest.fixture
def checkpointer_at():
  """StateCheckpointer(workdir, ...), closed after the test (orbax's threads end with it)."""
  made = []

  def make(workdir, **kwargs):
    made.append(checkpoints.StateCheckpointer(str(workdir), **kwargs))
    return made[-1]

  yield make
  for checkpointer in made:
    checkpointer.close()


def _assert_same(got, want):
  assert jax.tree.structure(got) == jax.tree.structure(want)
  for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want)):
    assert isinstance(g, jax.Array)
    assert g.dtype == w.dtype and g.shape == w.shape and g.sharding == w.sharding
    np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


@pytest.mark.parametrize("seed", range(5))
def test_pack_is_the_leaves_bytes_in_tree_order_and_unpack_inverts_it(seed):
  state = _random_state(seed)
  data, layout = checkpoints.pack(state)
  leaves = jax.tree_util.tree_flatten_with_path(state)[0]
  # One uint8 array: each leaf's bytes (numpy's own tobytes, C order) one after another.
  assert data.dtype == np.uint8 and data.ndim == 1
  assert data.tobytes() == b"".join(np.asarray(x).tobytes() for _, x in leaves)
  assert [name for name, _, _ in layout] == [orbax_files.path_name(p) for p, _ in leaves]
  assert checkpoints.layout_shapes(layout) == orbax_files.leaf_shapes(state)
  assert {dtype for _, _, dtype in layout} == {"bfloat16", "float32", "int32", "uint32"}
  unpacked = checkpoints.unpack(data, layout)
  for path, x in leaves:
    got = unpacked[orbax_files.path_name(path)]
    assert got.dtype == np.asarray(x).dtype and got.shape == np.shape(x)
    np.testing.assert_array_equal(got, np.asarray(x))


def test_unpack_refuses_bytes_of_another_length():
  data, layout = checkpoints.pack(_random_state(0))
  with pytest.raises(ValueError, match=f"holds {data.size - 1} bytes, its layout {data.size}"):
    checkpoints.unpack(data[:-1], layout)


def test_a_long_orbax_message_is_cut_at_a_word():
  # pylint: disable=protected-access
  first = "NOT_FOUND: " + "Error reading bytes " * 20
  line = checkpoints._first_line(ValueError(first + "\nmore"))
  kept = line.removesuffix(" ...")
  assert line.endswith(" ...") and len(kept) <= 200
  assert first.startswith(kept) and first[len(kept)] == " "  # whole words only
  assert checkpoints._first_line(ValueError("short\nmore")) == "short"


def test_save_and_restore_round_trip_with_the_template_shardings(tmp_path, checkpointer_at):
  checkpointer = checkpointer_at(tmp_path, max_to_keep=2)
  states = [_random_state(seed) for seed in range(3)]
  for step, state in enumerate(states):
    checkpointer.save(step, state)
  assert checkpointer.latest_step() == 2
  assert sorted(int(n) for n in os.listdir(tmp_path / "checkpoints") if n.isdigit()) == [1, 2]
  _assert_same(checkpointer.restore(states[0]), states[2])
  _assert_same(checkpointer.restore(states[0], step=1), states[1])
  # A template of ShapeDtypeStructs restores the same values.
  abstract = jax.tree.map(ocp.utils.to_shape_dtype_struct, states[0])
  _assert_same(checkpointer.restore(abstract), states[2])
  checkpointer.save(2, states[0])  # a step saved again replaces the earlier save
  _assert_same(checkpointer.restore(states[1]), states[0])


def _nonempty(state):
  """`state` with each empty leaf replaced by one zero (the per-leaf form cannot hold empty
  arrays; the packed form can)."""
  return jax.tree.map(lambda a: a if a.size else jnp.zeros((1,), a.dtype), state)


def test_a_checkpoint_of_the_per_leaf_form_restores(tmp_path, checkpointer_at):
  state = _nonempty(_random_state(1))
  manager = ocp.CheckpointManager(
      str(tmp_path / "checkpoints"), item_handlers=ocp.StandardCheckpointHandler(),
      options=ocp.CheckpointManagerOptions(create=True, enable_async_checkpointing=False))
  manager.save(5, args=ocp.args.StandardSave(state))
  manager.close()
  checkpointer = checkpointer_at(tmp_path)
  assert checkpointer.latest_step() == 5
  _assert_same(checkpointer.restore(_nonempty(_random_state(2))), state)
  other = state._replace(rng=jnp.zeros((3,), jnp.uint32))
  with pytest.raises(InputError, match=r"field 'rng' is uint32\[2\] but this configuration needs"
                                       r" uint32\[3\]"):
    checkpointer.restore(other)


def test_restore_names_the_first_differing_field(tmp_path, checkpointer_at):
  checkpointer = checkpointer_at(tmp_path)
  state = _random_state(0)
  checkpointer.save(3, state)
  params = dict(state.params)
  params["extra"] = jnp.zeros(2)
  with pytest.raises(InputError, match=r"checkpoints/3: field 'params/extra' is missing"):
    checkpointer.restore(state._replace(params=params))
  del params["extra"], params["cell4"]
  with pytest.raises(InputError, match=r"checkpoints/3: has a field 'params/cell4/b' this"):
    checkpointer.restore(state._replace(params=params))


@pytest.mark.parametrize("damage,words", [
    ("layout", "cannot be read"), ("arrays", "cannot be restored")])
def test_a_damaged_checkpoint_is_one_line_naming_it(tmp_path, checkpointer_at, damage, words):
  checkpointer = checkpointer_at(tmp_path)
  state = _random_state(0)
  checkpointer.save(4, state)
  item = tmp_path / "checkpoints" / "4" / damage
  if damage == "layout":
    (item / "metadata").write_text("{not json")  # orbax's JSON item file
  else:
    shutil.rmtree(item / "d")  # the array item's data files
  with pytest.raises(InputError) as info:
    checkpointer.restore(state)
  message = str(info.value)
  assert message.startswith(f"checkpoint {tmp_path / 'checkpoints' / '4'}: {words}"), message
  assert "\n" not in message and "use a new --workdir" in message


def test_the_layout_is_json_a_reader_can_follow(tmp_path, checkpointer_at):
  """The layout names each leaf as the error messages do, in tree order, with shape and dtype."""
  checkpointer = checkpointer_at(tmp_path)
  state = _random_state(3, layers=2)
  checkpointer.save(0, state)
  layout = json.loads((tmp_path / "checkpoints" / "0" / "layout" / "metadata").read_text())
  assert layout[0] == ["step", [], "int32"]
  assert layout[-1] == ["rng", [2], "uint32"]
  assert ["params/cell1/w", [int(state.params["cell1"]["w"].shape[0])], "float32"] in layout


def test_restore_on_eight_devices_takes_the_template_shardings(tmp_path):
  """Replicated leaves (a data-parallel run's state) and a leaf split over 8 devices."""
  env = drivers.eight_device_env()
  proc = subprocess.run(drivers.command("checkpoint_on_eight_devices", str(tmp_path)), env=env,
                        capture_output=True, text=True, check=False, timeout=300)
  assert proc.returncode == 0, proc.stderr[-3000:]
  result = json.loads(proc.stdout.splitlines()[-1])
  assert result == {"devices": 8, "same_values": [True] * 3, "same_shardings": [True] * 3}


@pytest.mark.parametrize("damage", ["layout deleted", "empty step directory"])
def test_an_unfinished_save_is_one_line_naming_it(tmp_path, checkpointer_at, damage):
  checkpointer = checkpointer_at(tmp_path)
  checkpointer.save(4, _random_state(0))
  if damage == "layout deleted":
    shutil.rmtree(tmp_path / "checkpoints" / "4" / "layout")
  else:
    shutil.rmtree(tmp_path / "checkpoints" / "4")
    (tmp_path / "checkpoints" / "4").mkdir()
  with pytest.raises(InputError, match=r"^checkpoint .*checkpoints/4: holds no layout/ \(an"
                                       r" unfinished or damaged save\); delete it"):
    checkpointer.restore(_random_state(0), step=4)
