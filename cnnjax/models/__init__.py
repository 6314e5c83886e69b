"""Model zoo: pure linen modules behind a registry.

    model = create_model("resnet50", num_classes=1000)
    variables = model.init(rng, x)
    logits = model.apply(variables, x, train=False)

Families: `lenet` (lenet5, lenet5_classic), `alexnet` (alexnet, alexnet_v2, alexnet_small),
`vgg` (vgg11/13/16/19, their `_bn` variants, vgg16_cifar), `resnet` (resnet18/34/50/101/152,
CIFAR resnet20/32/44/56/110) and `inception` (googlenet). Each model documents the names of
the activations `intermediates` returns.
"""

# Importing a family module registers its models.
from cnnjax.models import alexnet, efficientnet, inception, lenet, mobilenet, resnet, vgg  # noqa: F401
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
