// @tensorflow/tfjs in the browser build of fusedloss/tfjs: imported by its bare name, which the
// page's import map or the application's bundler resolves (an ES module has no synchronous
// require; importing fusedloss/tfjs is the sign that tfjs is wanted).  The main entry never
// imports this module.
import * as tf from '@tensorflow/tfjs';

/** The @tensorflow/tfjs namespace the page provides. */
export function loadTfModule(): unknown {
  return tf;
}
