'use strict';
// CommonJS consumer: node require.cjs (in the consumer project).
require('./kernels.cjs')(require('fusedloss'), 'require');
