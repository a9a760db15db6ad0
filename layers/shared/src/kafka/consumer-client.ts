/**
 * The part of @platformatic/kafka a consumer needs, without the rest (as ./producer-client.ts, whose comment
 * says why): the re-enrich function reads single raw records back by offset, and its bundle must not carry
 * the package index, the schema registries and avsc for it. Types come from the package index (erased).
 */
import './lazy-validators.ts';

export { ListOffsetTimestamps } from '../../../../node_modules/@platformatic/kafka/dist/apis/enumerations.js';
export { Consumer } from '../../../../node_modules/@platformatic/kafka/dist/clients/consumer/consumer.js';
export { MessagesStreamModes } from '../../../../node_modules/@platformatic/kafka/dist/clients/consumer/types.js';
