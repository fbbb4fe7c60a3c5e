import * as tf from '@tensorflow/tfjs';

/**
 * tfjs has no stopGradient op. This is the identity in the forward pass and passes back zeros,
 * so a value can take part in a loss without any gradient reaching what produced it
 * (feature mixup, the `detached` divergence form).
 */
const stop = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const x = args[0] as tf.Tensor;
  return { value: x.clone(), gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy) };
});

export function stopGradient<T extends tf.Tensor>(x: T): T {
  return stop(x) as T;
}
