"""Training learns: the quick-start recipe, shortened, reaches >= 95 % on the held-out digits."""

from cnnjax.train import train_and_evaluate
from experiments.configs import quickstart


def test_quickstart_recipe_learns_the_held_out_digits(tmp_path):
    """LeNet-5 on MNIST-5k, 3 of the recipe's 15 epochs (186 steps): 96.5 % on the 1,000 held-out
    digits when written (98 % after all 15); chance is 10 %. About 20 s of CPU."""
    config = quickstart.get_config()
    config.num_epochs = 3
    config.eval.every_epochs = 3
    config.log.update(every_steps=1000, write_pictures=False, progress_bar=False)
    result = train_and_evaluate(config, str(tmp_path / "run"))
    assert result["count"] == 1000 and result["step"] == 3 * 62
    assert result["accuracy"] >= 0.95, result["accuracy"]
