/** The runner's counters, as `EnrichRunner.stats` exposes them and GET /health reports them under `consumer`. */
export interface RunnerStats {
  /** Invocations that succeeded. */
  batches: number;
  /** Records of the invocations that succeeded. */
  records: number;
  /** Invocations that threw or reported item failures (each retry counts). */
  failedInvocations: number;
  lastError: string | undefined;
  /** Records received and not yet handed to an invocation. */
  pending: number;
  /** Times the group took a partition away from this runner. */
  revokedPartitions: number;
  /** Buffered records dropped at a revocation (the new owner reads them from the committed offset). */
  droppedRecords: number;
  /** Records redelivered by the stream after a rejoin and skipped (already buffered, in flight or processed here). */
  redeliveredRecords: number;
  /** OffsetCommit requests that failed (retried with backoff). */
  failedCommits: number;
  /**
   * Records a retrying lane had no room for (beyond its cap): dropped, never committed, fetched again from the
   * lane's next needed offset once the lane has room.
   */
  overflowRecords: number;
  /** Records skipped because they did not come from the position a lane needed (a late or rewound fetch). */
  outOfSyncRecords: number;
}

/** All counters at zero. */
export function newRunnerStats(): RunnerStats {
  return {
    batches: 0,
    records: 0,
    failedInvocations: 0,
    lastError: undefined,
    pending: 0,
    revokedPartitions: 0,
    droppedRecords: 0,
    redeliveredRecords: 0,
    failedCommits: 0,
    overflowRecords: 0,
    outOfSyncRecords: 0,
  };
}
