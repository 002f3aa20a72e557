"""Figures the chapters reuse: image grids, loss curves, sampling animations."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib import animation
from torch import Tensor

from arlib.train import History

__all__ = ["animate_frames", "image_grid", "loss_curves", "show_images"]


def image_grid(images: Tensor, n_cols: int = 10, shape: tuple[int, int] = (28, 28), pad: int = 1) -> Tensor:
    """Tile a batch of images (B, H·W), (B, H, W) or (B, 1, H, W) into one (rows·H, cols·W) tensor."""
    images = images.detach().float().cpu().reshape(-1, *shape)
    n = images.shape[0]
    n_rows = math.ceil(n / n_cols)
    height, width = shape
    grid = torch.ones(n_rows * (height + pad) + pad, n_cols * (width + pad) + pad) * 0.5
    for i, image in enumerate(images):
        r, c = divmod(i, n_cols)
        top, left = pad + r * (height + pad), pad + c * (width + pad)
        grid[top:top + height, left:left + width] = image
    return grid


def show_images(images: Tensor, n_cols: int = 10, title: str | None = None, ax=None,
                shape: tuple[int, int] = (28, 28), vmax: float | None = None):
    """Show a batch of greyscale images as one grid (black ink on white, like a page)."""
    if ax is None:
        n_rows = math.ceil(len(images) / n_cols)
        _, ax = plt.subplots(figsize=(n_cols * 0.6, n_rows * 0.6 + (0.4 if title else 0)))
    grid = image_grid(images, n_cols, shape)
    ax.imshow(grid, cmap="gray_r", vmin=0, vmax=vmax if vmax is not None else max(1.0, grid.max().item()))
    ax.set_axis_off()
    if title:
        ax.set_title(title)
    return ax


def loss_curves(histories: dict[str, History], ax=None, unit: str = "nats"):
    """Train (dashed) and validation (solid) NLL per epoch for one or more runs."""
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 3.5))
    for i, (label, history) in enumerate(histories.items()):
        colour = f"C{i}"
        epochs = range(1, history.epochs + 1)
        ax.plot(epochs, history.train_nll, "--", color=colour, label=f"{label} (train)")
        if history.valid_nll:
            ax.plot(epochs, history.valid_nll, "-", color=colour, label=f"{label} (valid)")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"NLL ({unit})")
    ax.legend()
    return ax


def animate_frames(frames: Sequence[Sequence[Tensor]], titles: Sequence[str], interval: int = 80,
                   shape: tuple[int, int] = (28, 28)) -> animation.FuncAnimation:
    """An animation of side-by-side images: ``frames[t][k]`` is panel k at time t.

    Render it for a static page with ``IPython.display.HTML(animation_html(anim))``: the frames are
    embedded in the HTML and play without a kernel.
    """
    fig, axes = plt.subplots(1, len(titles), figsize=(2.2 * len(titles), 2.4))
    axes = [axes] if len(titles) == 1 else list(axes)
    artists = []
    for ax, title, image in zip(axes, titles, frames[0], strict=True):
        artists.append(ax.imshow(image.reshape(shape).cpu(), cmap="gray_r", vmin=0, vmax=1, interpolation="nearest"))
        ax.set_title(title)
        ax.set_axis_off()

    def update(t: int):
        for artist, image in zip(artists, frames[t], strict=True):
            artist.set_data(image.reshape(shape).cpu())
        return artists

    anim = animation.FuncAnimation(fig, update, frames=len(frames), interval=interval, blit=True)
    plt.close(fig)
    return anim


# Matplotlib's player buttons are font-awesome icons loaded from a CDN; offline pages get plain characters instead.
_PLAYER_ICONS = {
    "fa fa-minus": "−", "fa fa-plus": "+", "fa fa-fast-backward": "⏮", "fa fa-step-backward": "⏴︎|",
    "fa fa-play fa-flip-horizontal": "◀", "fa fa-pause": "⏸", "fa fa-play": "▶", "fa fa-step-forward": "|⏵︎",
    "fa fa-fast-forward": "⏭",
}


def animation_html(anim: animation.Animation, default_mode: str = "once") -> str:
    """The animation as self-contained HTML (frames embedded, JS player) that loads nothing from the network."""
    html = re.sub(r"<link[^>]*font-awesome[^>]*>", "", anim.to_jshtml(default_mode=default_mode))
    for icon, character in _PLAYER_ICONS.items():
        html = html.replace(f'<i class="{icon}"></i>', character)
    if re.search(r"""(?:src|href)=["'](?:https?:)?//""", html):
        raise RuntimeError("the animation HTML still refers to another host")
    return html
