"""Read a netc TensorBoard event file with TensorBoard's own reader and print the
scalars it finds, one `tag step value` line each. Used by tests/cli_train.rs.

Usage: python3 tests/tensorboard_read.py EVENTS_FILE
"""
import sys

from tensorboard.backend.event_processing.event_file_loader import EventFileLoader

for event in EventFileLoader(sys.argv[1]).Load():
    for value in event.summary.value:
        # TensorBoard's loader turns simple_value into a tensor proto.
        number = value.simple_value if value.HasField("simple_value") else value.tensor.float_val[0]
        print(value.tag, event.step, number)
