use tract_onnx::prelude::*;
fn main() -> anyhow::Result<()> {
    let p = std::env::args().nth(1).unwrap();
    let m = tract_onnx::onnx().model_for_path(&p)?;
    let t = m.clone().into_typed()?;
    for n in t.nodes().iter().take(12) { println!("{} {} {:?}", n.id, n.name, t.outlet_label(OutletId::new(n.id,0))); }
    Ok(())
}
