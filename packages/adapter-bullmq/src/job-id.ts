/**
 * Action keys as BullMQ job ids. BullMQ refuses custom ids that contain `:` (its own key
 * separator) or that parse as integers, and dripline's keys are `campaign:contact:node:visit:kind`.
 * The mapping is reversible and injective: `%` and `:` are percent-escaped and a `k` is put
 * in front, so two keys never share a job id and no id is an integer.
 */

/** The BullMQ job id of an action key. */
export function jobIdOf(key: string): string {
  return `k${key.replace(/%/g, '%25').replace(/:/g, '%3A')}`;
}

/** The action key of a job id made by {@link jobIdOf}. */
export function keyOfJobId(jobId: string): string {
  return jobId.slice(1).replace(/%3A/g, ':').replace(/%25/g, '%');
}
