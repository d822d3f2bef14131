"""Reading TensorBoard event files back in tests, independently of natjax: the TFRecord framing
(u64 length, u32 crc, payload, u32 crc) around tensorboardX's Event protobufs."""

import os
import struct

from tensorboardX.proto import event_pb2


def read_scalars(workdir):
  """{tag: [(step, value), ...]} from the TFRecord-framed event files in WORKDIR/tensorboard
  (each record: u64 length, u32 crc, payload, u32 crc)."""
  found = {}
  directory = os.path.join(workdir, "tensorboard")
  for name in sorted(os.listdir(directory)):
    with open(os.path.join(directory, name), "rb") as f:
      raw = f.read()
    offset = 0
    while offset < len(raw):
      (length,) = struct.unpack("<Q", raw[offset:offset + 8])
      event = event_pb2.Event.FromString(raw[offset + 12:offset + 12 + length])
      offset += 12 + length + 4
      for value in event.summary.value:
        found.setdefault(value.tag, []).append((event.step, value.simple_value))
  return found
