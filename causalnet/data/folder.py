"""Users' own images: a folder of class sub-folders, read with torchvision's ``ImageFolder``."""

from __future__ import annotations

from pathlib import Path

from ..errors import CausalnetInputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _floats(value: str | None, default: tuple[float, ...]) -> tuple[float, ...]:
    if value is None:
        return default
    try:
        return tuple(float(v) for v in value.split(","))
    except ValueError:
        raise CausalnetInputError(f"expected comma-separated numbers, got {value!r}") from None


def _checked(image_folder: type) -> type:
    """``ImageFolder`` whose unreadable files are input errors that name the file."""

    class CheckedImageFolder(image_folder):
        def __getitem__(self, index: int):
            try:
                return super().__getitem__(index)
            except (OSError, ValueError, SyntaxError) as exc:   # PIL: corrupt, truncated, not an image
                raise CausalnetInputError(
                    f"cannot read image {self.samples[index][0]!r} ({type(exc).__name__}: {exc}); "
                    "remove or replace the file") from None

    return CheckedImageFolder


def load_folder(root: str | Path, *, size: int | None = 224, channels: int = 3,
                mean: str | None = None, std: str | None = None):
    """An ``ImageFolder`` over ``root`` (one sub-folder per class), resized to ``size``
    (shorter side, then centre crop; ``None`` keeps the files' size), converted to ``channels``
    (1 or 3) and normalised (ImageNet statistics unless ``mean``/``std`` are given)."""
    from torchvision import datasets, transforms

    root = Path(root)
    if not root.is_dir():
        raise CausalnetInputError(f"image folder {str(root)!r} does not exist or is not a folder")
    if channels not in (1, 3) or isinstance(channels, bool):
        raise CausalnetInputError(f"channels must be 1 or 3, got {channels!r}")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or not 0 < size <= 8192):
        raise CausalnetInputError(f"size must be a whole number of pixels (1 to 8192) or 'none', "
                                  f"got {size!r}: use e.g. folder:DIR?size=224")
    default_mean = IMAGENET_MEAN if channels == 3 else (0.5,)
    default_std = IMAGENET_STD if channels == 3 else (0.5,)
    steps = []
    if channels == 1:
        steps.append(transforms.Grayscale(num_output_channels=1))
    if size is not None:
        steps += [transforms.Resize(size), transforms.CenterCrop(size)]
    steps += [transforms.ToTensor(),
              transforms.Normalize(_floats(mean, default_mean), _floats(std, default_std))]
    if channels == 3:
        steps.insert(0, transforms.Lambda(lambda img: img.convert("RGB")))
    try:
        dataset = _checked(datasets.ImageFolder)(str(root), transform=transforms.Compose(steps))
    except (FileNotFoundError, RuntimeError) as exc:
        raise CausalnetInputError(
            f"no images found under {str(root)!r}: expect one sub-folder per class holding "
            f"image files ({exc})") from None
    dataset.name = f"folder:{root}"
    return dataset
