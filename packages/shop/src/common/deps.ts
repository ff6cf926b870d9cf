/** Third-party entry points used in more than one place. */
export { Database } from '@brisk/service';
export { pino } from 'pino';
