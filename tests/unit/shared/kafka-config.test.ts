import { ConfigError, kafkaEnv, readConfig } from '#shared/config.ts';

const base = { KAFKA_BROKERS: '127.0.0.1:9092' };

describe('kafkaEnv produce deadline', () => {
  it('defaults KAFKA_PRODUCE_TIMEOUT_MS to 2 s', () => {
    expect(readConfig(kafkaEnv, base).KAFKA_PRODUCE_TIMEOUT_MS).toBe(2000);
  });

  it('reads a value given in the environment', () => {
    expect(readConfig(kafkaEnv, { ...base, KAFKA_PRODUCE_TIMEOUT_MS: '750' }).KAFKA_PRODUCE_TIMEOUT_MS).toBe(750);
  });

  it.each(['0', '50', '20001', 'soon', '1.5'])('refuses %s, naming the variable', (value) => {
    expect(() => readConfig(kafkaEnv, { ...base, KAFKA_PRODUCE_TIMEOUT_MS: value })).toThrow(ConfigError);
    expect(() => readConfig(kafkaEnv, { ...base, KAFKA_PRODUCE_TIMEOUT_MS: value })).toThrow(/KAFKA_PRODUCE_TIMEOUT_MS/);
  });
});

describe('kafkaEnv broker message limit', () => {
  it("defaults KAFKA_MESSAGE_MAX_BYTES to the brokers' default message.max.bytes", () => {
    expect(readConfig(kafkaEnv, base).KAFKA_MESSAGE_MAX_BYTES).toBe(1_048_588);
  });

  it('reads a value given in the environment', () => {
    expect(readConfig(kafkaEnv, { ...base, KAFKA_MESSAGE_MAX_BYTES: '8388608' }).KAFKA_MESSAGE_MAX_BYTES).toBe(8_388_608);
  });

  it.each(['0', '1000', 'big'])('refuses %s, naming the variable', (value) => {
    expect(() => readConfig(kafkaEnv, { ...base, KAFKA_MESSAGE_MAX_BYTES: value })).toThrow(/KAFKA_MESSAGE_MAX_BYTES/);
  });
});
