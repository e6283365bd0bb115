r"""Training loops of :class:`~pyg_course.nn.models.DeepWalk`: word2vec's SGD
(:meth:`~pyg_course.nn.models.DeepWalk.sgd_step` with a linearly decayed learning rate, optionally
several passes over each epoch's walks) and DGL's documented ``SparseAdam`` loop."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor
from tqdm.auto import tqdm

from pyg_course.nn.models.deepwalk import DeepWalk
from pyg_course.utils.checks import check_int, check_real


def train_deepwalk(model: DeepWalk, epochs: int = 1, lr: Optional[float] = None,
                   batch_size: Optional[int] = None, progress: bool = False,
                   num_workers: int = 0, optimizer: str = "sgd",
                   min_lr_ratio: float = 1e-4, passes: int = 1) -> list:
    r"""Train ``model``; every epoch starts ``walks_per_node`` walks from every node.

    * ``optimizer="sgd"`` (default): word2vec's recipe,
      :meth:`~pyg_course.nn.models.DeepWalk.sgd_step` (sparse per-pair SGD on the summed loss)
      with the learning rate decayed linearly from ``lr`` (default ``0.025``, word2vec's) to
      ``lr * min_lr_ratio`` over all steps; batches of ``batch_size`` walks (default ``32``:
      larger batches sum more occurrences of a hub into one step). Walks are drawn for many
      batches at once. ``passes > 1`` trains on each epoch's walks that many times, in a new
      order each time (gensim's ``epochs`` over a fixed corpus of walks): the epoch's walks are
      then held in memory, ``|V|`` x ``walks_per_node`` x ``walk_length`` node ids.
    * ``optimizer="adam"``: DGL's documented loop: :meth:`~pyg_course.nn.models.DeepWalk.loader`
      batches (default ``128``), the mean loss of
      :meth:`~pyg_course.nn.models.DeepWalk.forward`, :class:`~torch.optim.SparseAdam`
      (:class:`~torch.optim.Adam` when ``sparse=False``), ``lr`` default ``0.01``.

    ``epochs`` is an int ``>= 0``, ``batch_size`` an int ``>= 1``, ``lr`` finite and ``> 0``,
    ``min_lr_ratio`` in ``[0, 1]``; anything else is a ``ValueError`` (``TypeError`` for a
    non-number) before any training. Returns the mean loss of every epoch (per weighted pair
    for ``"sgd"``).
    """
    where = "train_deepwalk"
    if optimizer not in ("sgd", "adam"):
        raise ValueError(f"{where}: optimizer must be 'sgd' or 'adam', got {optimizer!r}")
    if isinstance(passes, bool) or int(passes) != passes or passes < 1:
        raise ValueError(f"{where}: passes must be an integer >= 1, got {passes}")
    epochs = check_int(where, "epochs", epochs, 0)
    if batch_size is not None:
        batch_size = check_int(where, "batch_size", batch_size)
    if lr is not None:
        check_real(where, "lr", lr, 0.0, include_low=False)
    check_real(where, "min_lr_ratio", min_lr_ratio, 0.0, 1.0, include_high=True)
    if optimizer == "adam":
        if passes != 1:
            raise ValueError("train_deepwalk: passes applies to optimizer='sgd' only")
        return _train_adam(model, epochs, 0.01 if lr is None else lr,
                           128 if batch_size is None else batch_size, progress, num_workers)
    lr = 0.025 if lr is None else float(lr)
    batch_size = 32 if batch_size is None else int(batch_size)
    starts = torch.arange(model.num_nodes, device=model.device).repeat(model.walks_per_node)
    num_batches = -(-starts.numel() // batch_size)
    total_steps, step = max(epochs * passes * num_batches, 1), 0
    chunk = batch_size * max(1, 8192 // batch_size)  # walks sampled per vectorised call
    history = []
    model.train()
    for epoch in range(epochs):
        order = starts[torch.randperm(starts.numel(), device=starts.device)]
        total, count = 0.0, 0
        bar = tqdm(total=num_batches * passes, desc=f"DeepWalk epoch {epoch + 1}/{epochs}",
                   disable=not progress, leave=False)
        for walks in _walk_chunks(model, order, chunk, passes):
            for b0 in range(0, walks.size(0), batch_size):
                rate = lr * max(1.0 - step / total_steps, min_lr_ratio)
                loss = model.sgd_step(walks[b0:b0 + batch_size], rate)
                step += 1
                n = min(batch_size, walks.size(0) - b0)
                total += float(loss) * n
                count += n
                bar.update(1)
            bar.set_postfix(loss=f"{total / max(count, 1):.4f}")
        bar.close()
        history.append(total / max(count, 1))
    return history


def _walk_chunks(model: DeepWalk, order: Tensor, chunk: int, passes: int):
    """Walks from the start nodes ``order``, ``chunk`` at a time; with ``passes > 1`` all of
    them at once, then handed out ``passes`` times, reshuffled after the first."""
    if passes == 1:
        for c0 in range(0, order.numel(), chunk):
            yield model.sample(order[c0:c0 + chunk])
        return
    corpus = torch.cat([model.sample(order[c0:c0 + chunk])
                        for c0 in range(0, order.numel(), chunk)])
    for p in range(passes):
        perm = torch.randperm(corpus.size(0), device=corpus.device) if p else None
        for c0 in range(0, corpus.size(0), chunk):
            yield corpus[c0:c0 + chunk] if perm is None else corpus[perm[c0:c0 + chunk]]


def _train_adam(model: DeepWalk, epochs: int, lr: float, batch_size: int, progress: bool,
                num_workers: int) -> list:
    params = list(model.parameters())
    opt = (torch.optim.SparseAdam(params, lr=lr) if model.sparse
           else torch.optim.Adam(params, lr=lr))
    loader = model.loader(batch_size=batch_size, num_workers=num_workers)
    history = []
    model.train()
    for epoch in range(epochs):
        total, count = 0.0, 0
        bar = tqdm(loader, desc=f"DeepWalk epoch {epoch + 1}/{epochs}", disable=not progress,
                   leave=False)
        for batch_walk in bar:
            loss = model(batch_walk)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * batch_walk.size(0)
            count += batch_walk.size(0)
            bar.set_postfix(loss=f"{total / count:.4f}")
        history.append(total / max(count, 1))
    return history
