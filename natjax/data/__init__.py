"""Data for search and retraining: datasets by name, the w/θ split, random-access sources,
batches as a function of (seed, epoch, step), the parallel host pipeline that reads them ahead, and
augmentation."""

from natjax.data.augment import (augment, augment_params, crop_and_flip, cutout, cutout_centres,
                                 cutout_with, eval_transform, normalize, random_resized_crop,
                                 resize_center_crop, train_transform)
from natjax.data.batches import batch_indices, steps_per_epoch
from natjax.data.datasets import (CIFAR10_MEAN, CIFAR10_STD, DATASETS, Dataset, Splits, load,
                                  load_cifar10, load_digits, load_imagenet2012, register_dataset,
                                  split_indices)
from natjax.data.pipeline import HostBatches, PipelineOptions, prefetch, read
from natjax.data.sources import ArraySource, Source, SubsetSource, batch
from natjax.data.tfds import TfdsSource, default_data_dir, prepare_command, tfds_source

__all__ = ["augment", "augment_params", "crop_and_flip", "cutout", "cutout_centres",
           "cutout_with", "eval_transform", "normalize", "random_resized_crop",
           "resize_center_crop", "train_transform", "batch_indices", "steps_per_epoch",
           "CIFAR10_MEAN", "CIFAR10_STD", "DATASETS", "Dataset", "Splits", "load", "load_cifar10",
           "load_digits", "load_imagenet2012", "register_dataset", "split_indices", "ArraySource",
           "Source", "SubsetSource", "batch", "TfdsSource", "default_data_dir", "prepare_command",
           "tfds_source", "HostBatches", "PipelineOptions", "prefetch", "read"]
