"""Tiny tfds datasets written as array_record files into a test's directory (no network, no
TensorFlow): a builder with a real dataset's name, version and features, and examples of the
test's choosing."""

from typing import Any, Callable, Dict, Iterable, Sequence, Tuple

import tensorflow_datasets as tfds


def prepare(name: str, version: str, features: Dict[str, Any], splits: Sequence[str],
            examples: Callable[[str], Iterable[Tuple[str, Dict[str, Any]]]], data_dir) -> None:
  """Writes dataset `name` at `version` under `data_dir`: each split's `examples(split)`, pairs
  of (key, {feature: value}), with PIL images (numpy ones would need TensorFlow to encode)."""

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features))

  def _split_generators(self, dl_manager):
    del dl_manager
    return {split: self._generate_examples(split) for split in splits}

  def _generate_examples(self, split):
    del self
    yield from examples(split)

  builder = type("Fake", (tfds.core.GeneratorBasedBuilder,),
                 {"name": name, "VERSION": tfds.core.Version(version), "_info": _info,
                  "_split_generators": _split_generators,
                  "_generate_examples": _generate_examples}, skip_registration=True)
  builder(data_dir=str(data_dir), file_format="array_record").download_and_prepare()


def cifar10(data_dir, splits: Sequence[str],
            examples: Callable[[str], Iterable[Tuple[str, Dict[str, Any]]]]) -> None:
  """A tiny `cifar10` (3.0.2, its features: 'id', 'image' 32x32x3, 'label' of 10)."""
  prepare("cifar10", "3.0.2", {
      "id": tfds.features.Text(), "image": tfds.features.Image(shape=(32, 32, 3)),
      "label": tfds.features.ClassLabel(num_classes=10)}, splits, examples, data_dir)


def imagenet2012(data_dir, splits: Sequence[str],
                 examples: Callable[[str], Iterable[Tuple[str, Dict[str, Any]]]],
                 encoding: str = "png") -> None:
  """A tiny `imagenet2012` (5.1.0, its features: 'file_name', 'image' of any size stored as
  `encoding` ('png', 'jpeg'), 'label' of 1000)."""
  prepare("imagenet2012", "5.1.0", {
      "file_name": tfds.features.Text(),
      "image": tfds.features.Image(shape=(None, None, 3), encoding_format=encoding),
      "label": tfds.features.ClassLabel(num_classes=1000)}, splits, examples, data_dir)
