//! Deriving a model's signature (input and output names, datatypes, shapes) from an ONNX
//! Runtime session, as Triton's auto-complete does. Initializers that an old export also lists
//! as graph inputs are not part of it: ONNX Runtime reports only the inputs a caller must feed.

use std::path::Path;

use ort::session::Session;
use ort::value::{Outlet, ValueType};
use outpost_core::{BackendError, ModelSignature, TensorSpec};

use crate::convert::datatype_from_ort;

fn spec(outlet: &Outlet, path: &Path) -> Result<TensorSpec, BackendError> {
    let unsupported = |message: String| BackendError::Unsupported {
        backend: crate::NAME,
        path: path.to_path_buf(),
        message,
    };
    let ValueType::Tensor { ty, shape, .. } = outlet.dtype() else {
        return Err(unsupported(format!(
            "'{}' is a {}, not a tensor",
            outlet.name(),
            outlet.dtype()
        )));
    };
    let datatype = datatype_from_ort(*ty).ok_or_else(|| {
        unsupported(format!(
            "'{}' has element type {ty}, which the V2 protocol cannot carry",
            outlet.name()
        ))
    })?;
    let dims = shape.iter().map(|d| if *d < 0 { -1 } else { *d }).collect();
    Ok(TensorSpec::new(outlet.name(), datatype, dims))
}

pub(crate) fn derive(session: &Session, path: &Path) -> Result<ModelSignature, BackendError> {
    Ok(ModelSignature {
        inputs: session
            .inputs()
            .iter()
            .map(|o| spec(o, path))
            .collect::<Result<_, _>>()?,
        outputs: session
            .outputs()
            .iter()
            .map(|o| spec(o, path))
            .collect::<Result<_, _>>()?,
    })
}
