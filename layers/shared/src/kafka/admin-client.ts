/**
 * @platformatic/kafka's Admin client alone, validators compiled on first use: see ./producer-client.ts for
 * why the path reaches into node_modules, and ./lazy-validators.ts.
 */
import './lazy-validators.ts';

export { Admin } from '../../../../node_modules/@platformatic/kafka/dist/clients/admin/admin.js';
