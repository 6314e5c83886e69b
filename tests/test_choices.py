"""The one "accepted are" message: names the bad value, lists the accepted, suggests a near miss."""

import pytest

from cnnjax import choices


def test_check_passes_an_accepted_value():
    choices.check("optimizer", "adam", ("sgd", "adam"))


def test_unknown_names_value_lists_accepted_and_suggests():
    with pytest.raises(ValueError) as e:
        choices.check("optimizer", "adm", ("sgd", "adam"))
    assert str(e.value) == "unknown optimizer 'adm'; accepted are sgd, adam; did you mean 'adam'?"


def test_unknown_without_a_near_miss_has_no_suggestion():
    e = choices.unknown("dataset", "zzzz", ("mnist", "cifar10"), extra="or a tfds name")
    assert str(e) == "unknown dataset 'zzzz'; accepted are mnist, cifar10 or a tfds name"
