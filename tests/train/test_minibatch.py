"""The sampled path computes the same function: with every neighbour sampled
(``num_neighbors=[-1, -1]``) a NeighborLoader mini-batch gives the seed nodes exactly their
full-batch outputs, and the Trainer's layer-wise evaluation equals a full-batch forward."""

import pytest
import torch
from torch_geometric.loader import NeighborLoader

from pyg_course.nn.models import GraphSAGE
from pyg_course.train import TrainConfig, Trainer


@pytest.mark.parametrize("aggr", ["mean", "gcn", "pool", "lstm"])
def test_full_neighbourhood_minibatch_equals_full_batch(cora, aggr):
    model = GraphSAGE(cora.num_features, 16, 2, 7, dropout=0.5, aggr=aggr,
                      aggr_channels=16 if aggr == "lstm" else None).eval()
    with torch.no_grad():
        full = model(cora.x, cora.edge_index)
        loader = NeighborLoader(cora, num_neighbors=[-1, -1], batch_size=300,
                                input_nodes=cora.test_mask, shuffle=True)
        seen = 0
        for batch in loader:
            out = model(batch.x, batch.edge_index, n_id=batch.n_id)[: batch.batch_size]
            torch.testing.assert_close(out, full[batch.n_id[: batch.batch_size]], atol=1e-5,
                                       rtol=1e-5)
            seen += batch.batch_size
    assert seen == int(cora.test_mask.sum())


def test_sampled_minibatch_differs_from_full_batch(cora):
    """The equality above is not vacuous: sampling 2 neighbours changes the outputs."""
    model = GraphSAGE(cora.num_features, 16, 2, 7).eval()
    with torch.no_grad():
        full = model(cora.x, cora.edge_index)
        batch = next(iter(NeighborLoader(cora, num_neighbors=[2, 2], batch_size=300,
                                         input_nodes=cora.test_mask)))
        out = model(batch.x, batch.edge_index)[: batch.batch_size]
    assert not torch.allclose(out, full[batch.n_id[: batch.batch_size]], atol=1e-3)


def test_trainer_minibatch_evaluation_is_full_batch(cora):
    model = GraphSAGE(cora.num_features, 16, 2, 7, dropout=0.5)
    config = TrainConfig(epochs=2, mode="minibatch", num_neighbors=[10, 5], batch_size=64,
                         eval_batch_size=1000, device="cpu", progress=False)
    trainer = Trainer(model, cora, config)
    result = trainer.fit()
    assert result["epochs_run"] == 2
    model.eval()
    with torch.no_grad():
        torch.testing.assert_close(trainer.predict(), model(cora.x, cora.edge_index),
                                   atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("model_name", ["GraphSAGE", "GAT", "GCN"])
def test_trainer_gathers_sparse_features_outside_neighbor_loader(model_name):
    # Bag-of-words features (< 10% non-zeros) become a CSR matrix. NeighborLoader cannot
    # slice CSR (a mini-batch run once crashed on it), so in mini-batch mode the loaders
    # sample a feature-less copy of the graph and each batch gathers its rows.
    from pyg_course.datasets import csbm
    from pyg_course.nn import models
    from pyg_course.train import prepare_features

    data = csbm(num_nodes=300, num_features=40, num_val=50, num_test=100, seed=0)
    data.x = (torch.rand(300, 40, generator=torch.Generator().manual_seed(0)) < 0.06).float()
    assert 0 < float((data.x != 0).float().mean()) < 0.1
    cls = getattr(models, model_name)
    model = cls(40, 8, num_layers=2, out_channels=2)
    assert prepare_features(model, data).x.layout == torch.sparse_csr
    for mode in ("minibatch", "full"):
        config = TrainConfig(epochs=2, mode=mode, num_neighbors=[5, 5], batch_size=16,
                             device="cpu", progress=False)
        trainer = Trainer(model, data, config)
        assert trainer.data.x.layout == torch.sparse_csr
        assert ("x" in trainer.loader_data) == (mode == "full")
        assert trainer.loader_data.num_nodes == 300
        assert trainer.fit()["epochs_run"] == 2


@pytest.mark.parametrize("aggr", ["mean", "gcn", "pool", "lstm"])
def test_sparse_minibatch_training_equals_dense(cora, aggr):
    """Same seed, same mini-batches: an epoch on the gathered CSR rows moves the weights
    exactly as an epoch on the loader's dense rows, and the layer-wise evaluation (sparse
    first layer) gives the same logits."""
    import copy

    torch.manual_seed(0)
    sparse_model = GraphSAGE(cora.num_features, 16, 2, 7, aggr=aggr,
                             aggr_channels=16 if aggr in ("lstm", "pool") else None)
    dense_model = copy.deepcopy(sparse_model)
    dense_model.supports_sparse_features = False  # the Trainer keeps the features dense
    config = TrainConfig(epochs=1, mode="minibatch", num_neighbors=[10, 5], batch_size=64,
                         eval_batch_size=1000, device="cpu", progress=False)
    trainers = []
    for model in (sparse_model, dense_model):
        torch.manual_seed(2)  # the sampler's seed
        trainers.append(Trainer(model, cora, config))
    sparse, dense = trainers
    assert sparse.features is not None and dense.features is None
    sampler = sparse.train_loader.node_sampler
    state = sampler.get_state()
    batch = next(iter(sparse.train_loader))
    sampler.set_state(state)
    assert "x" not in batch
    torch.testing.assert_close(sparse.batch_features(batch).to_dense(), cora.x[batch.n_id])
    initial = sparse_model.convs[0].lin_l.weight.detach().clone()
    for trainer in (sparse, dense):
        torch.manual_seed(1)
        trainer.train_epoch()
    for (name, a), b in zip(sparse_model.named_parameters(), dense_model.parameters()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4, msg=name)
    assert not torch.allclose(sparse_model.convs[0].lin_l.weight, initial, atol=1e-4)  # it trained
    torch.testing.assert_close(sparse.predict(), dense.predict(), atol=1e-5, rtol=1e-4)


def test_trimming_only_where_it_is_exact(cora):
    """GraphSAGE and GAT trim each layer's input by the sampler's per-hop counts (the seeds'
    outputs are unchanged); a GCN does not: its edge weights depend on the sources' degrees,
    which trimming changes."""
    from torch_geometric.nn.models import GCN as PyGGCN

    from pyg_course.nn.models import GAT, GCN

    config = TrainConfig(epochs=1, mode="minibatch", num_neighbors=[5, 5], batch_size=64,
                         device="cpu", progress=False)
    f = cora.num_features
    models = {"sage": GraphSAGE(f, 8, 2, 7), "gat": GAT(f, 8, 2, 7, heads=2),
              "gcn": GCN(f, 8, 2, 7), "pyg-gcn": PyGGCN(f, 8, 2, 7),
              "sage-3-layers": GraphSAGE(f, 8, 3, 7)}
    trims = {name: Trainer(m, cora, config).trim for name, m in models.items()}
    assert trims == {"sage": True, "gat": True, "gcn": False, "pyg-gcn": False,
                     "sage-3-layers": False}
    pyg_sampler = TrainConfig(**{**config.to_dict(), "sampler": "pyg"})
    batch = next(iter(Trainer(GraphSAGE(f, 8, 2, 7), cora, pyg_sampler).train_loader))
    assert getattr(batch, "num_sampled_nodes", None) is None  # PyG's: nothing to trim with
