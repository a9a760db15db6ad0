import { readEnrichConfig } from '../../../functions/enrich/config.ts';

describe('readEnrichConfig: flags', () => {
  // The least an enrich environment names (Redis and PostgreSQL; the topics have defaults).
  const base = { REDIS_URL: 'redis://127.0.0.1:6379/0', DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/log_enrichment' };

  it('reads an empty flag as its default: ENRICH_PROVENANCE= keeps provenance on, as when it is unset', () => {
    expect(readEnrichConfig(base).ENRICH_PROVENANCE).toBe(true);
    expect(readEnrichConfig({ ...base, ENRICH_PROVENANCE: '' }).ENRICH_PROVENANCE).toBe(true);
    expect(readEnrichConfig({ ...base, ENRICH_PROVENANCE: 'false' }).ENRICH_PROVENANCE).toBe(false);
    expect(readEnrichConfig({ ...base, ENRICH_PROVENANCE: '0' }).ENRICH_PROVENANCE).toBe(false);
  });

  it('keeps an empty flag whose default is off, off', () => {
    expect(readEnrichConfig({ ...base, ENRICH_REPORT_BATCH_ITEM_FAILURES: '' }).ENRICH_REPORT_BATCH_ITEM_FAILURES).toBe(false);
    expect(readEnrichConfig({ ...base, ENRICH_REPORT_BATCH_ITEM_FAILURES: '1' }).ENRICH_REPORT_BATCH_ITEM_FAILURES).toBe(true);
  });

  it('refuses a flag value it does not know, naming the variable', () => {
    expect(() => readEnrichConfig({ ...base, ENRICH_PROVENANCE: 'yes' })).toThrow(/ENRICH_PROVENANCE/);
  });
});
