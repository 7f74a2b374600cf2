// Registers TensorFlow.js's own gradient functions. tfjs-core's Node bundle
// (its `main`) leaves them out (the full tfjs package adds them from
// dist/register_all_gradients.js), and its ES module files import one another
// without file extensions, which Node's resolver rejects: a resolve hook adds
// '.js' for those imports. The registries and the engine are global objects,
// so the gradients registered from the ES modules serve the Node bundle's ops.
import { register } from 'node:module';

const hook = `
export async function resolve(specifier, context, next) {
  if (context.parentURL && context.parentURL.includes('/tfjs-core/dist/') && specifier.startsWith('.') && !specifier.endsWith('.js')) {
    try { return await next(specifier + '.js', context); } catch { return next(specifier + '/index.js', context); }
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`, import.meta.url);
await import('@tensorflow/tfjs-core/dist/register_all_gradients.js');
