/** The entry of a data-plane worker process (node:cluster forks this file). */
import { runWorker } from './worker.js';

runWorker();
