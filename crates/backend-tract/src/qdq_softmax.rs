//! Load-time rewrite of quantized Softmax for tract.
//!
//! QDQ models often quantize Softmax: `DequantizeLinear -> Softmax -> QuantizeLinear`, sometimes
//! followed by another `DequantizeLinear`. tract folds that chain into a quantized Softmax that
//! saturates (every class reads 255/256), so such models answer nonsense. This pass keeps
//! Softmax in float:
//!
//! * `Softmax -> Q -> DQ` (float consumers): the Q/DQ pair is dropped and Softmax writes the
//!   DequantizeLinear's output directly. The result differs from the quantized chain by less
//!   than one quantization step.
//! * `Softmax -> Q` whose quantized value is needed (for example a `uint8` graph output): the
//!   QuantizeLinear is spelled out as plain arithmetic, `Cast(Clip(Round(x / scale) + zero_point))`,
//!   which gives the same integers and which tract does not fold.

use tract_onnx::pb::{
    attribute_proto::AttributeType, tensor_proto::DataType, AttributeProto, GraphProto, NodeProto,
    TensorProto,
};

/// What the rewrite did, for the load log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RewriteReport {
    /// Softmax nodes whose trailing Q/DQ pair was removed.
    pub dropped_requantization: usize,
    /// Softmax nodes whose QuantizeLinear was replaced by arithmetic.
    pub expanded_quantization: usize,
}

impl RewriteReport {
    /// Whether the rewrite changed the graph.
    pub fn changed(&self) -> bool {
        self.dropped_requantization + self.expanded_quantization > 0
    }
}

fn consumers(graph: &GraphProto, value: &str) -> Vec<usize> {
    graph
        .node
        .iter()
        .enumerate()
        .filter(|(_, n)| n.input.iter().any(|i| i == value))
        .map(|(ix, _)| ix)
        .collect()
}

fn producer(graph: &GraphProto, value: &str) -> Option<usize> {
    graph
        .node
        .iter()
        .position(|n| n.output.iter().any(|o| o == value))
}

fn is_graph_output(graph: &GraphProto, value: &str) -> bool {
    graph.output.iter().any(|o| o.name == value)
}

fn initializer<'g>(graph: &'g GraphProto, name: &str) -> Option<&'g TensorProto> {
    graph.initializer.iter().find(|t| t.name == name)
}

/// Reads the single zero point of a QuantizeLinear (uint8 or int8); `None` if absent or per-axis.
fn zero_point(tensor: &TensorProto) -> Option<(i32, DataType)> {
    let data_type = DataType::try_from(tensor.data_type).ok()?;
    let value = match (
        data_type,
        tensor.raw_data.as_slice(),
        tensor.int32_data.as_slice(),
    ) {
        (DataType::Uint8, [b], _) => i32::from(*b),
        (DataType::Int8, [b], _) => i32::from(*b as i8),
        (DataType::Uint8 | DataType::Int8, [], [v]) => *v,
        _ => return None,
    };
    Some((value, data_type))
}

fn scalar_f32(name: String, value: f32) -> TensorProto {
    TensorProto {
        name,
        data_type: DataType::Float as i32,
        float_data: vec![value],
        ..TensorProto::default()
    }
}

fn node(op_type: &str, name: String, inputs: Vec<String>, output: String) -> NodeProto {
    NodeProto {
        op_type: op_type.to_string(),
        name,
        input: inputs,
        output: vec![output],
        ..NodeProto::default()
    }
}

/// Rewrites every quantized Softmax in `graph` (see the module documentation).
pub fn rewrite(graph: &mut GraphProto) -> RewriteReport {
    let mut report = RewriteReport::default();
    let softmaxes: Vec<String> = graph
        .node
        .iter()
        .filter(|n| n.op_type == "Softmax" && n.domain.is_empty())
        .map(|n| n.output[0].clone())
        .collect();
    for softmax_output in softmaxes {
        let Some(softmax_ix) = producer(graph, &softmax_output) else {
            continue;
        };
        let fed_by_dq = graph.node[softmax_ix]
            .input
            .first()
            .and_then(|i| producer(graph, i))
            .is_some_and(|p| graph.node[p].op_type == "DequantizeLinear");
        let after = consumers(graph, &softmax_output);
        if !fed_by_dq || after.len() != 1 || is_graph_output(graph, &softmax_output) {
            continue;
        }
        let q_ix = after[0];
        if graph.node[q_ix].op_type != "QuantizeLinear" {
            continue;
        }
        let q_output = graph.node[q_ix].output[0].clone();
        let after_q = consumers(graph, &q_output);
        let only_dequantized = !is_graph_output(graph, &q_output)
            && !after_q.is_empty()
            && after_q
                .iter()
                .all(|ix| graph.node[*ix].op_type == "DequantizeLinear");
        if only_dequantized {
            drop_requantization(graph, softmax_ix, q_ix, &after_q);
            report.dropped_requantization += 1;
        } else if expand_quantization(graph, q_ix) {
            report.expanded_quantization += 1;
        }
    }
    report
}

/// Softmax -> Q -> DQ(s): Softmax takes over the first DQ's output name; the others read it.
fn drop_requantization(
    graph: &mut GraphProto,
    softmax_ix: usize,
    q_ix: usize,
    dequantizers: &[usize],
) {
    let float_name = graph.node[dequantizers[0]].output[0].clone();
    let other_names: Vec<String> = dequantizers[1..]
        .iter()
        .map(|ix| graph.node[*ix].output[0].clone())
        .collect();
    graph.node[softmax_ix].output[0].clone_from(&float_name);
    for n in &mut graph.node {
        for input in &mut n.input {
            if other_names.contains(input) {
                input.clone_from(&float_name);
            }
        }
    }
    let mut remove: Vec<usize> = dequantizers.to_vec();
    remove.push(q_ix);
    remove.sort_unstable_by(|a, b| b.cmp(a));
    for ix in remove {
        graph.node.remove(ix);
    }
}

/// Replaces QuantizeLinear at `q_ix` by Div, Round, Add, Clip and Cast. Returns false (and leaves
/// the graph alone) when the scale or zero point is not a plain scalar initializer.
fn expand_quantization(graph: &mut GraphProto, q_ix: usize) -> bool {
    let q = graph.node[q_ix].clone();
    let (Some(scale_name), Some(zp_name)) = (q.input.get(1), q.input.get(2)) else {
        return false;
    };
    let scale_is_scalar =
        initializer(graph, scale_name).is_some_and(|t| t.dims.iter().product::<i64>() == 1);
    let Some((zp, zp_type)) = initializer(graph, zp_name).and_then(zero_point) else {
        return false;
    };
    if !scale_is_scalar {
        return false;
    }
    let (low, high) = if zp_type == DataType::Uint8 {
        (0.0, 255.0)
    } else {
        (-128.0, 127.0)
    };
    let base = format!("{}__float_quantize", q.output[0]);
    let names = |suffix: &str| format!("{base}_{suffix}");
    graph
        .initializer
        .push(scalar_f32(names("zero_point"), zp as f32));
    graph.initializer.push(scalar_f32(names("low"), low));
    graph.initializer.push(scalar_f32(names("high"), high));
    let mut cast = node(
        "Cast",
        names("cast"),
        vec![names("clipped")],
        q.output[0].clone(),
    );
    cast.attribute.push(AttributeProto {
        name: "to".into(),
        r#type: AttributeType::Int as i32,
        i: zp_type as i64,
        ..AttributeProto::default()
    });
    let replacement = vec![
        node(
            "Div",
            names("div"),
            vec![q.input[0].clone(), scale_name.clone()],
            names("scaled"),
        ),
        node(
            "Round",
            names("round"),
            vec![names("scaled")],
            names("rounded"),
        ),
        node(
            "Add",
            names("add"),
            vec![names("rounded"), names("zero_point")],
            names("shifted"),
        ),
        node(
            "Clip",
            names("clip"),
            vec![names("shifted"), names("low"), names("high")],
            names("clipped"),
        ),
        cast,
    ];
    graph.node.splice(q_ix..=q_ix, replacement);
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use tract_onnx::pb::ValueInfoProto;

    fn graph(tail: &[(&str, &str, &str)], output: &str, zp_type: DataType) -> GraphProto {
        let mut nodes = vec![
            node(
                "DequantizeLinear",
                "dq_in".into(),
                vec!["x".into(), "s".into(), "z".into()],
                "xf".into(),
            ),
            node("Softmax", "softmax".into(), vec!["xf".into()], "p".into()),
        ];
        for (op, input, out) in tail {
            nodes.push(node(
                op,
                format!("{op}_{out}"),
                vec![input.to_string(), "s".into(), "z".into()],
                out.to_string(),
            ));
        }
        GraphProto {
            node: nodes,
            initializer: vec![
                scalar_f32("s".into(), 1.0 / 256.0),
                TensorProto {
                    name: "z".into(),
                    data_type: zp_type as i32,
                    raw_data: vec![0],
                    ..TensorProto::default()
                },
            ],
            output: vec![ValueInfoProto {
                name: output.into(),
                ..ValueInfoProto::default()
            }],
            ..GraphProto::default()
        }
    }

    #[test]
    fn drops_requantization_before_float_output() {
        let mut g = graph(
            &[
                ("QuantizeLinear", "p", "q"),
                ("DequantizeLinear", "q", "probabilities"),
            ],
            "probabilities",
            DataType::Uint8,
        );
        let report = rewrite(&mut g);
        assert_eq!(report.dropped_requantization, 1);
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["DequantizeLinear", "Softmax"]);
        assert_eq!(g.node[1].output[0], "probabilities");
    }

    #[test]
    fn expands_quantization_of_integer_output() {
        let mut g = graph(
            &[("QuantizeLinear", "p", "probabilities")],
            "probabilities",
            DataType::Uint8,
        );
        let report = rewrite(&mut g);
        assert_eq!(report.expanded_quantization, 1);
        let ops: Vec<&str> = g.node.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(
            ops,
            [
                "DequantizeLinear",
                "Softmax",
                "Div",
                "Round",
                "Add",
                "Clip",
                "Cast"
            ]
        );
        let cast = g.node.last().unwrap();
        assert_eq!(cast.output[0], "probabilities");
        assert_eq!(cast.attribute[0].i, DataType::Uint8 as i64);
    }

    #[test]
    fn leaves_float_softmax_alone() {
        let mut g = GraphProto {
            node: vec![node(
                "Softmax",
                "softmax".into(),
                vec!["x".into()],
                "p".into(),
            )],
            ..GraphProto::default()
        };
        assert!(!rewrite(&mut g).changed());
        assert_eq!(g.node.len(), 1);
    }
}
