// The one place the suite imports TensorFlow.js from: the union package, whose Node build
// registers every op's gradient, the optimizers and the plain JavaScript cpu backend.
export * from '@tensorflow/tfjs';
