"""GCN, GraphSAGE and GAT against PyG's ``torch_geometric.nn.models``: same signature, repr,
module names and state dict; a PyG model's state dict loads (strict) into ours built with the
same call and gives the same output; PyG's forward arguments; layer-wise inference equals the
forward pass; torch.save / torch.load; torch.compile; empty graphs."""

import inspect

import pytest
import torch
import torch.nn.functional as F
import torch_geometric.nn.models as pyg_models
from torch_geometric.loader import NeighborLoader
from torch_geometric.typing import SparseTensor

from pyg_course.datasets import csbm
from pyg_course.nn.models import GAT, GCN, GraphSAGE

MODELS = {"GCN": GCN, "GraphSAGE": GraphSAGE, "GAT": GAT}
NORMS = [None, "batch_norm", "layer_norm"]
JKS = [None, "last", "cat", "max", "lstm"]
ACTS = [None, "leaky_relu", F.elu, torch.nn.ReLU()]


@pytest.fixture(autouse=True)
def one_thread():
    # Tiny graphs: OpenMP threads only spin waiting for each other on a loaded machine.
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def small_graph(num_nodes=10, num_edges=30, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(num_nodes, 8, generator=g)
    edge_index = torch.randint(0, num_nodes - 1, (2, num_edges), generator=g)  # last: isolated
    return x, edge_index


def pair(name, *args, **kwargs):
    """PyG's model and ours built with the same call, PyG's state dict loaded into ours."""
    torch.manual_seed(0)
    theirs = getattr(pyg_models, name)(*args, **kwargs)
    ours = MODELS[name](*args, **kwargs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    ours.load_state_dict(theirs.state_dict(), strict=True)
    return ours, theirs


def assert_same_function(ours, theirs, x, edge_index):
    theirs.train()
    theirs(x, edge_index)  # batch-norm running statistics become non-trivial
    ours.load_state_dict(theirs.state_dict(), strict=True)
    for training in (True, False):  # dropout is 0: training mode is deterministic too
        ours.train(training), theirs.train(training)
        torch.testing.assert_close(ours(x, edge_index), theirs(x, edge_index), atol=1e-5,
                                   rtol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_signature_and_defaults_are_pygs(name):
    ours = inspect.signature(MODELS[name].__init__).parameters
    theirs = inspect.signature(getattr(pyg_models, name).__init__).parameters
    names = [p for p in theirs if p not in ("self", "kwargs")]
    assert names == ["in_channels", "hidden_channels", "num_layers", "out_channels", "dropout",
                     "act", "act_first", "act_kwargs", "norm", "norm_kwargs", "jk"]
    assert list(ours)[:len(names) + 1] == ["self"] + names
    for p in names:
        assert ours[p].default == theirs[p].default, p
    forward = list(inspect.signature(getattr(pyg_models, name).forward).parameters)
    assert list(inspect.signature(MODELS[name].forward).parameters)[:len(forward)] == forward


@pytest.mark.parametrize("jk", JKS)
@pytest.mark.parametrize("norm", NORMS)
@pytest.mark.parametrize("name", ["GCN", "GraphSAGE"])
def test_pyg_state_dict_same_output(name, norm, jk):
    x, edge_index = small_graph()
    for out_channels in (None, 8):
        for act in ACTS:
            ours, theirs = pair(name, 8, 16, num_layers=3, out_channels=out_channels, act=act,
                                norm=norm, jk=jk)
            assert repr(ours) == repr(theirs) == f"{name}(8, {out_channels or 16}, num_layers=3)"
            assert_same_function(ours, theirs, x, edge_index)


@pytest.mark.parametrize("jk", JKS)
@pytest.mark.parametrize("norm", NORMS)
def test_gat_pyg_state_dict_same_output(norm, jk):
    x, edge_index = small_graph()
    for out_channels in (None, 8):
        for heads in (1, 4):
            for concat in (True, False):
                ours, theirs = pair("GAT", 8, 16, num_layers=3, out_channels=out_channels,
                                    heads=heads, concat=concat, act="elu", norm=norm, jk=jk)
                assert repr(ours) == repr(theirs)
                assert_same_function(ours, theirs, x, edge_index)


@pytest.mark.parametrize("kwargs", [dict(aggr="max"), dict(aggr="mean", project=True),
                                    dict(aggr="max", project=True), dict(normalize=True),
                                    dict(root_weight=False), dict(bias=False)])
def test_graphsage_conv_options_same_as_pyg(kwargs):
    x, edge_index = small_graph()
    try:
        ours, theirs = pair("GraphSAGE", 8, 16, num_layers=2, out_channels=4, **kwargs)
    except (TypeError, ValueError) as exc:  # a conv option we refuse: the error names it
        assert any(str(v) in str(exc) or k in str(exc) for k, v in kwargs.items()), exc
        return
    assert_same_function(ours, theirs, x, edge_index)


def test_gat_hidden_channels_is_the_total_width():
    # PyG's call GAT(8, 16, num_layers=3): 1 head of 16 units, 784 parameters
    model = GAT(8, 16, num_layers=3)
    assert sum(p.numel() for p in model.parameters()) == 784
    model = GAT(8, 16, num_layers=3, out_channels=4, heads=4, dropout=0.25)
    hidden, last = model.convs[0], model.convs[-1]
    assert (hidden.heads, hidden.out_channels, hidden.concat) == (4, 4, True)
    assert (last.heads, last.out_channels, last.concat) == (4, 4, False)
    assert all(conv.dropout == 0.25 for conv in model.convs)
    with pytest.raises(ValueError, match="divisible by heads"):
        GAT(8, 10, num_layers=2, heads=4)


def test_gat_output_heads_and_v2():
    model = GAT(8, 16, num_layers=2, out_channels=3, heads=4, output_heads=1)
    assert (model.convs[-1].heads, model.convs[-1].out_channels) == (1, 3)
    with pytest.raises(ValueError, match="output_heads sets the heads of a last layer"):
        GAT(8, 16, num_layers=2, heads=4, output_heads=1)
    assert GAT(8, 16, num_layers=2, v2=False).convs[0].heads == 1
    with pytest.raises(ValueError, match="v2=True .*not available"):
        GAT(8, 16, num_layers=2, v2=True)
    x, edge_index = small_graph()
    with pytest.raises(ValueError, match="edge features"):
        GAT(8, 16, 2)(x, edge_index, edge_attr=torch.randn(edge_index.size(1), 3))


@pytest.mark.parametrize("name", list(MODELS))
def test_norm_jk_act_keywords_accepted(name):
    # PyG's BasicGNN keywords, norm=None included, are accepted.
    x, edge_index = small_graph()
    model = MODELS[name](8, 16, num_layers=2, out_channels=3, norm=None, jk=None,
                         act="elu", act_first=True, act_kwargs=None, norm_kwargs=None)
    assert model(x, edge_index).shape == (10, 3)


@pytest.mark.parametrize("name", list(MODELS))
def test_no_input_dropout_by_default(name):
    # PyG applies dropout after the hidden layers only: with the same seed, the same
    # training-mode output (our input_dropout is off unless asked for).
    x, edge_index = small_graph()
    ours, theirs = pair(name, 8, 16, num_layers=2, out_channels=3, dropout=0.5)
    ours.train(), theirs.train()
    torch.manual_seed(5)
    a = ours(x, edge_index)
    torch.manual_seed(5)
    if name == "GAT":  # the layers' own attention dropout: by hand with our layers
        h = F.dropout(ours.convs[0](x, edge_index).relu(), 0.5, True)
        expected = ours.convs[1](h, edge_index)
    else:
        expected = theirs(x, edge_index)
    torch.testing.assert_close(a, expected)
    assert ours.input_dropout == 0.0


@pytest.mark.parametrize("name", list(MODELS))
def test_input_dropout(name):
    x, edge_index = small_graph()
    model = MODELS[name](8, 16, 2, 3, input_dropout=1.0).train()
    torch.testing.assert_close(model(x, edge_index), model(torch.zeros_like(x), edge_index))


@pytest.mark.parametrize("jk", JKS)
@pytest.mark.parametrize("out_channels", [None, 8])
@pytest.mark.parametrize("name", list(MODELS))
def test_one_layer(name, out_channels, jk):
    x, edge_index = small_graph()
    ours, theirs = pair(name, 8, 16, num_layers=1, out_channels=out_channels, jk=jk)
    assert ours(x, edge_index).shape == (10, out_channels or 16)
    assert_same_function(ours, theirs, x, edge_index)


def test_gcn_edge_weight_same_as_pyg():
    x, edge_index = small_graph()
    weight = torch.rand(edge_index.size(1))
    ours, theirs = pair("GCN", 8, 16, num_layers=2, out_channels=3)
    torch.testing.assert_close(ours(x, edge_index, weight), theirs(x, edge_index, weight))
    torch.testing.assert_close(ours(x, edge_index, edge_weight=weight),
                               theirs(x, edge_index, edge_weight=weight))


@pytest.mark.parametrize("name", list(MODELS))
def test_batch_argument_reaches_graph_norm(name):
    x, edge_index = small_graph()
    batch = torch.tensor([0] * 5 + [1] * 5)
    ours, theirs = pair(name, 8, 16, num_layers=3, out_channels=3, norm="layer_norm")
    torch.testing.assert_close(ours(x, edge_index, batch=batch, batch_size=2),
                               theirs(x, edge_index, batch=batch, batch_size=2))
    assert not torch.allclose(ours(x, edge_index, batch=batch), ours(x, edge_index))


@pytest.fixture(scope="module")
def graph():
    return csbm(num_nodes=150, num_classes=3, num_features=8, num_val=20, num_test=40, seed=0)


@pytest.mark.parametrize("name", list(MODELS))
def test_trimmed_forward_same_as_pyg(name):
    # A two-hop NeighborLoader batch by hand: seeds 0-1, first hop 2-4, second hop 5-8; the
    # edges into the seeds come first.
    x, _ = small_graph(num_nodes=9)
    edge_index = torch.tensor([[2, 3, 4, 5, 6, 7, 8], [0, 0, 1, 2, 3, 4, 2]])
    kwargs = dict(num_sampled_nodes_per_hop=[2, 3, 4], num_sampled_edges_per_hop=[3, 4])
    ours, theirs = pair(name, 8, 16, num_layers=2, out_channels=3)
    ours.eval(), theirs.eval()
    trimmed = ours(x, edge_index, **kwargs)
    assert trimmed.size(0) < 9
    torch.testing.assert_close(trimmed, theirs(x, edge_index, **kwargs))
    if name != "GCN":  # trimming drops the hop nodes' in-edges, hence GCN's degrees
        torch.testing.assert_close(trimmed[:2], ours(x, edge_index)[:2])


@pytest.mark.parametrize("norm", [None, "batch_norm"])
@pytest.mark.parametrize("jk", JKS)
@pytest.mark.parametrize("name", list(MODELS))
def test_inference_equals_forward(graph, name, jk, norm):
    torch.manual_seed(0)
    kwargs = dict(heads=2) if name == "GAT" else {}
    model = MODELS[name](8, 16, 3, 3, jk=jk, norm=norm, dropout=0.5, **kwargs)
    model.train()
    model(graph.x, graph.edge_index)  # batch-norm running statistics
    model.eval()
    torch.manual_seed(1)
    loader = NeighborLoader(graph, num_neighbors=[-1], batch_size=32, shuffle=True)
    out = model.inference(loader)
    torch.testing.assert_close(out, model(graph.x, graph.edge_index), atol=1e-5, rtol=1e-5)
    assert "n_id" not in graph
    # PyG's keywords
    again = model.inference(loader, device="cpu", embedding_device="cpu", progress_bar=False,
                            cache=True)
    torch.testing.assert_close(again, out, atol=1e-5, rtol=1e-5)


def test_gcn_inference_exact_with_self_loops_and_options(graph):
    # Neighbours' degrees come from the whole graph (a one-hop batch lacks their in-edges).
    data = graph.clone()
    data.edge_index = torch.cat([data.edge_index, torch.tensor([[0, 5, 5], [0, 5, 5]])], 1)
    loader = NeighborLoader(data, num_neighbors=[-1], batch_size=20, shuffle=False)
    for kwargs in (dict(), dict(improved=True), dict(add_self_loops=False),
                   dict(normalize=False)):
        model = GCN(8, 16, 2, 3, **kwargs).eval()
        torch.testing.assert_close(model.inference(loader), model(data.x, data.edge_index),
                                   atol=1e-5, rtol=1e-5)


def test_inference_refuses_graph_wise_norm(graph):
    model = GraphSAGE(8, 16, 2, 3, norm="layer_norm").eval()
    loader = NeighborLoader(graph, num_neighbors=[-1], batch_size=32)
    with pytest.raises(ValueError, match="normalises over a whole graph"):
        model.inference(loader)
    node_wise = GraphSAGE(8, 16, 2, 3, norm="layer_norm", norm_kwargs=dict(mode="node")).eval()
    torch.testing.assert_close(node_wise.inference(loader), node_wise(graph.x, graph.edge_index),
                               atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", list(MODELS))
def test_torch_save_and_load(tmp_path, name):
    x, edge_index = small_graph()
    model = MODELS[name](8, 16, num_layers=3, jk="cat", norm="batch_norm").eval()
    torch.save(model, tmp_path / "model.pt")
    loaded = torch.load(tmp_path / "model.pt", weights_only=False)
    assert type(loaded) is type(model) and repr(loaded) == repr(model)
    torch.testing.assert_close(loaded(x, edge_index), model(x, edge_index))


@pytest.mark.parametrize("name", list(MODELS))
def test_sparse_input_forms_agree(name):
    x, edge_index = small_graph()
    model = MODELS[name](8, 16, 2, 3).eval()
    adj_t = SparseTensor.from_edge_index(edge_index, sparse_sizes=(10, 10)).t()
    expected = model(x, edge_index)
    torch.testing.assert_close(model(x, adj_t), expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(model(x.to_sparse_csr(), edge_index), expected, atol=1e-5,
                               rtol=1e-5)


# ---------------------------------------------------------------- empty graphs


@pytest.mark.parametrize("jk", [None, "cat"])
@pytest.mark.parametrize("num_nodes", [0, 4])
@pytest.mark.parametrize("name", list(MODELS))
def test_empty_graphs(name, num_nodes, jk):
    """0 nodes, or nodes without edges: right-shaped outputs, forward and backward."""
    model = MODELS[name](8, 16, 2, 3, jk=jk)
    x = torch.randn(num_nodes, 8, requires_grad=True)
    out = model(x, torch.empty(2, 0, dtype=torch.long))
    assert out.shape == (num_nodes, 3) and torch.isfinite(out).all()
    out.sum().backward()
    assert x.grad.shape == x.shape


# ---------------------------------------------------------------- torch.compile


def compile_inputs(kind):
    x, edge_index = small_graph()
    if kind == "sparse":
        return x, SparseTensor.from_edge_index(edge_index, sparse_sizes=(10, 10)).t()
    return x, edge_index


@pytest.mark.parametrize("kind", ["edge_index", "sparse"])
@pytest.mark.parametrize("name", list(MODELS))
def test_compile_no_graph_breaks_same_numbers(name, kind):
    torch._dynamo.reset()
    torch.manual_seed(0)
    model = MODELS[name](8, 16, 2, 3, norm="batch_norm", jk="cat")
    x, adj = compile_inputs(kind)
    explanation = torch._dynamo.explain(model)(x, adj)
    assert explanation.graph_break_count == 0, explanation.break_reasons
    model.eval()
    compiled = torch.compile(model, backend="aot_eager", fullgraph=True)
    torch.testing.assert_close(compiled(x, adj), model(x, adj), atol=1e-5, rtol=1e-5)
    # backward in training mode (dropout 0: the same numbers)
    model.train()
    xs = [x.clone().requires_grad_(), x.clone().requires_grad_()]
    compiled(xs[0], adj).square().sum().backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    model(xs[1], adj).square().sum().backward()
    for a, b in zip(grads, [p.grad for p in model.parameters()]):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(xs[0].grad, xs[1].grad, atol=1e-5, rtol=1e-5)
    torch._dynamo.reset()
