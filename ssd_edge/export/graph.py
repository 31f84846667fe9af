"""Small ONNX graph helpers shared by the FP16, INT8 and NMS passes."""
import collections

HEAVY_OPS = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def consumers(graph):
    """Map tensor name → list of nodes reading it."""
    out = collections.defaultdict(list)
    for node in graph.node:
        for name in node.input:
            out[name].append(node)
    return out


def tail_nodes(graph):
    """Names of the nodes after the last convolution: softmax, reshapes, concat and box decoding.

    A node belongs to the tail when no Conv/Gemm/MatMul is downstream of it and it is not one
    itself. Those nodes turn logits and offsets into probabilities and corner boxes; keeping them
    in FP32 (FP16 export) or unquantized (INT8 export) costs nothing measurable and keeps the
    exponentials and the prior arithmetic exact.
    """
    users = consumers(graph)
    feeds_heavy = {}

    def visit(node):
        key = id(node)
        if key in feeds_heavy:
            return feeds_heavy[key]
        feeds_heavy[key] = False  # cycles cannot occur in ONNX, this only guards recursion
        result = False
        for out in node.output:
            for user in users.get(out, ()):
                if user.op_type in HEAVY_OPS or visit(user):
                    result = True
        feeds_heavy[key] = result
        return result

    return [n.name for n in graph.node if n.op_type not in HEAVY_OPS and not visit(n)]


def ensure_node_names(model):
    """Give every node a unique name (the FP16 and INT8 passes refer to nodes by name)."""
    seen = set()
    for i, node in enumerate(model.graph.node):
        if not node.name or node.name in seen:
            node.name = "%s_%d" % (node.op_type, i)
        seen.add(node.name)
    return model
