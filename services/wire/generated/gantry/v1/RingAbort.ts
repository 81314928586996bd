// Original file: proto/gantry/v1/collective.proto


/**
 * Why a rank gave up on the group.
 */
export interface RingAbort {
  /**
   * The rank that failed first blames this one (dead, stalled, refusing or refused).
   */
  'culpritRank'?: (number);
  /**
   * CollectiveError kind at the first rank: "peer_gone", "timeout", "refused" or "closed".
   */
  'kind'?: (string);
  /**
   * The rank that first saw the failure.
   */
  'reporterRank'?: (number);
  /**
   * Its message, for logs.
   */
  'detail'?: (string);
}

/**
 * Why a rank gave up on the group.
 */
export interface RingAbort__Output {
  /**
   * The rank that failed first blames this one (dead, stalled, refusing or refused).
   */
  'culpritRank': (number);
  /**
   * CollectiveError kind at the first rank: "peer_gone", "timeout", "refused" or "closed".
   */
  'kind': (string);
  /**
   * The rank that first saw the failure.
   */
  'reporterRank': (number);
  /**
   * Its message, for logs.
   */
  'detail': (string);
}
