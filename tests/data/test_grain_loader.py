"""grain loaders: exact resumption, per-epoch permutations, disjoint shards, padded evaluation."""

import itertools

import grain.checkpoint as grain_checkpoint
import numpy as np
import pytest
from absl import flags
from etils import epath

from cnnjax.data.loader import DevicePrefetch, eval_batches, train_iterator
from cnnjax.data.sources import ArraySource


class ListSource:
    """A source without a batched read (like a tfds source): exercises the threaded path."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"image": np.full((2, 2, 1), i % 256, np.uint8), "label": i}


def _array_source(n):
    return ArraySource(np.zeros((n, 2, 2, 1), np.uint8), np.arange(n))


def _labels(iterator, count):
    return [next(iterator)["label"].tolist() for _ in range(count)]


@pytest.mark.parametrize("source", [_array_source(50), ListSource(50)], ids=["memory", "stream"])
def test_resumed_iterator_sees_the_uninterrupted_batches(source):
    run = train_iterator(source, batch_size=8, seed=3)
    uninterrupted = _labels(run, 20)  # crosses three epoch boundaries
    first = train_iterator(source, batch_size=8, seed=3)
    _labels(first, 7)
    state = first.get_state()
    resumed = train_iterator(source, batch_size=8, seed=3)
    resumed.set_state(state)
    assert _labels(resumed, 13) == uninterrupted[7:]


@pytest.fixture
def absl_flags_parsed():
    """grain reads absl flags when it starts workers: parsed as in an absl app, then restored."""
    parsed = flags.FLAGS.is_parsed()
    if not parsed:
        flags.FLAGS.mark_as_parsed()
    yield
    if not parsed:
        flags.FLAGS.unparse_flags()


def test_worker_processes_give_the_same_batches_and_resume_exactly(absl_flags_parsed):
    source = _array_source(40)
    uninterrupted = _labels(train_iterator(source, batch_size=4, seed=1), 12)  # main process
    first = train_iterator(source, batch_size=4, seed=1, worker_count=1)
    assert _labels(first, 5) == uninterrupted[:5]
    state = first.get_state()
    first.close()
    resumed = train_iterator(source, batch_size=4, seed=1, worker_count=1)
    resumed.set_state(state)
    assert _labels(resumed, 7) == uninterrupted[5:]
    resumed.close()


def test_every_epoch_is_a_fresh_permutation():
    labels = list(
        itertools.chain(*_labels(train_iterator(_array_source(12), batch_size=4, seed=0), 9))
    )
    epochs = [labels[0:12], labels[12:24], labels[24:36]]
    assert all(sorted(epoch) == list(range(12)) for epoch in epochs)
    assert epochs[0] != epochs[1] != epochs[2]
    again = list(
        itertools.chain(*_labels(train_iterator(_array_source(12), batch_size=4, seed=0), 3))
    )
    assert again == epochs[0]  # seeded


def test_batches_follow_the_seeded_stream_of_epoch_permutations():
    n, batch_size, shards = 10, 3, 2
    stream = np.concatenate([np.random.default_rng([5, e]).permutation(n) for e in range(5)])
    for k in range(shards):
        mine = stream[k::shards]  # this shard's positions of the global stream
        expected = [mine[b * batch_size : (b + 1) * batch_size].tolist() for b in range(6)]
        iterator = train_iterator(
            _array_source(n), batch_size=batch_size, seed=5, shard_index=k, shard_count=shards
        )
        assert _labels(iterator, 6) == expected


def test_num_epochs_ends_the_stream():
    iterator = train_iterator(_array_source(10), batch_size=3, seed=0, num_epochs=2)
    assert len(list(iterator)) == 20 // 3
    counts = [
        len(list(train_iterator(_array_source(10), batch_size=1, seed=0, num_epochs=1,
                                shard_index=k, shard_count=3)))
        for k in range(3)
    ]  # fmt: skip
    assert counts == [4, 3, 3]  # positions 0,3,6,9 | 1,4,7 | 2,5,8


def test_shards_are_disjoint_and_cover_an_epoch():
    source = _array_source(30)
    shards = [
        list(
            itertools.chain(
                *_labels(
                    train_iterator(source, batch_size=5, seed=2, shard_index=k, shard_count=3), 2
                )
            )
        )
        for k in range(3)
    ]
    assert sorted(itertools.chain(*shards)) == list(range(30))


def test_device_prefetch_state_replays_unconsumed_batches(tmp_path):
    source = _array_source(30)
    uninterrupted = _labels(train_iterator(source, batch_size=5, seed=4), 10)
    prefetched = DevicePrefetch(train_iterator(source, batch_size=5, seed=4), size=3)
    assert _labels(prefetched, 4) == uninterrupted[:4]  # 3 more batches are already in flight
    handler = grain_checkpoint.CheckpointHandler()  # what Orbax runs for CheckpointSave
    handler.save(epath.Path(tmp_path), item=prefetched)
    resumed = DevicePrefetch(train_iterator(source, batch_size=5, seed=4), size=3)
    handler.restore(epath.Path(tmp_path), item=resumed)
    assert _labels(resumed, 6) == uninterrupted[4:]


def test_eval_batches_count_each_example_once_over_shards():
    source = ListSource(11)
    seen = []
    for shard in range(2):
        batches = list(eval_batches(source, batch_size=4, shard_index=shard, shard_count=2))
        assert len(batches) == 2  # ceil(11 / 2) = 6 per shard → 2 batches of 4, same on each
        for batch in batches:
            assert batch["image"].shape == (4, 2, 2, 1)
            seen += batch["label"][batch["mask"]].tolist()
    assert sorted(seen) == list(range(11))


def test_bad_arguments():
    with pytest.raises(ValueError, match="batch_size=64 is larger"):
        train_iterator(_array_source(10), batch_size=64, seed=0)
    with pytest.raises(ValueError, match="shard_index < shard_count"):
        train_iterator(_array_source(10), batch_size=2, seed=0, shard_index=2, shard_count=2)
