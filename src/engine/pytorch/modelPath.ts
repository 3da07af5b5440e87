/** A PyTorch model file: the `.py` that defines the `nn.Module` (DESIGN.md, "PyTorch model files"). */
export function isPytorchModelPath(modelPath: string): boolean {
  return modelPath.toLowerCase().endsWith('.py');
}
