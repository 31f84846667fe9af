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


def topological_sort(graph):
    """Reorder ``graph.node`` in place so every node comes after the producers of its inputs.

    ONNX requires that order (``onnx.checker`` with ``full_check`` and OpenCV's importer enforce
    it); ONNX Runtime's FP16 converter appends the input casts it inserts at the end of the list.
    Names that no node produces (graph inputs, initializers, outer-scope names) count as ready; the
    relative order of independent nodes is kept.
    """
    produced_by = {}
    for i, node in enumerate(graph.node):
        for name in node.output:
            produced_by[name] = i
    order, state = [], [0] * len(graph.node)   # 0 new, 1 on the stack, 2 placed
    for start in range(len(graph.node)):
        stack = [(start, iter(graph.node[start].input))]
        while stack:
            i, inputs = stack[-1]
            if state[i] == 2:
                stack.pop()
                continue
            state[i] = 1
            for name in inputs:
                j = produced_by.get(name)
                if j is not None and state[j] == 0:
                    stack.append((j, iter(graph.node[j].input)))
                    break
            else:
                state[i] = 2
                order.append(graph.node[i])
                stack.pop()
    nodes = [type(n)() for n in order]
    for dst, src in zip(nodes, order):
        dst.CopyFrom(src)
    del graph.node[:]
    graph.node.extend(nodes)
    return graph
