// @tensorflow/tfjs for the tests that drive the tfjs losses: a dev dependency, so absent in some
// installs, where those tests skip.
import { createRequire } from 'node:module';

import type * as TF from '@tensorflow/tfjs';

/** The tfjs namespace, or null when @tensorflow/tfjs is not installed. */
export function loadTf(): typeof TF | null {
  try {
    return createRequire(__filename)('@tensorflow/tfjs') as typeof TF;
  } catch {
    return null;
  }
}
