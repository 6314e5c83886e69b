"""Model zoo: pure linen modules behind a registry.

    model = create_model("lenet5", num_classes=10)
    variables = model.init(rng, x)
    logits = model.apply(variables, x, train=False)
"""

# Importing a family module registers its models.
from cnnjax.models import lenet  # noqa: F401
from cnnjax.models.intermediates import intermediates
from cnnjax.models.registry import (
    ModelSpec,
    check_input_shape,
    create_model,
    get_model_spec,
    list_models,
    register_model,
)

__all__ = [
    "ModelSpec",
    "check_input_shape",
    "create_model",
    "get_model_spec",
    "intermediates",
    "list_models",
    "register_model",
]
