"""Model registry: `register_model`, `create_model(name, **kw)`, `list_models()` (timm-style)."""

import dataclasses
from collections.abc import Callable

import flax.linen as nn


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the registry knows about a model besides how to build it.

    Attributes:
      name: registered name.
      factory: `factory(num_classes=..., **overrides) -> nn.Module`.
      input_shape: the (H, W, C) the model was designed for (e.g. 224x224x3 for ImageNet nets).
      min_input_size: the smallest H = W the model accepts.
      test_input_shape: a small (H, W, C) on which the model can run in tests.
    """

    name: str
    factory: Callable[..., nn.Module]
    input_shape: tuple[int, int, int]
    min_input_size: int
    test_input_shape: tuple[int, int, int]


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(
    name: str,
    *,
    input_shape: tuple[int, int, int],
    min_input_size: int | None = None,
    test_input_shape: tuple[int, int, int] | None = None,
):
    """Decorator that registers `factory(num_classes, **overrides) -> nn.Module` under `name`."""

    def decorator(factory):
        if name in _REGISTRY:
            raise ValueError(f"model {name!r} is registered twice")
        _REGISTRY[name] = ModelSpec(
            name=name,
            factory=factory,
            input_shape=tuple(input_shape),
            min_input_size=min_input_size or input_shape[0],
            test_input_shape=tuple(test_input_shape or input_shape),
        )
        return factory

    return decorator


def list_models() -> list[str]:
    """All registered model names, sorted."""
    return sorted(_REGISTRY)


def get_model_spec(name: str) -> ModelSpec:
    """The `ModelSpec` of `name`; raises a `ValueError` listing the known names."""
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown model {name!r}; registered models are: {', '.join(list_models())}"
        )
    return _REGISTRY[name]


def create_model(name: str, num_classes: int = 1000, **overrides) -> nn.Module:
    """Builds the registered model `name` with `num_classes` outputs and any field overrides."""
    spec = get_model_spec(name)
    try:
        return spec.factory(num_classes=num_classes, **overrides)
    except TypeError as e:
        raise ValueError(
            f"model {name!r} does not accept overrides {sorted(overrides)}: {e}"
        ) from e


def check_input_shape(name: str, input_shape: tuple[int, ...]) -> None:
    """Raises a clear error when (H, W, C) is smaller than what model `name` accepts."""
    spec = get_model_spec(name)
    height, width = input_shape[0], input_shape[1]
    if min(height, width) < spec.min_input_size:
        raise ValueError(
            f"model {name!r} needs inputs of at least {spec.min_input_size}x{spec.min_input_size} "
            f"pixels, got {height}x{width}"
        )
