export type {
  AddressAdmission,
  AddressClass,
  EgressAllowList,
  EgressPolicy,
  EgressPolicyOptions,
} from './address-policy.js';
export {
  admitAddress,
  classifyAddress,
  createEgressPolicy,
  isAddressAllowListed,
  isHostAllowListed,
  isLoopbackAddress,
  isPublicAddress,
  parseEgressAllowList,
} from './address-policy.js';
export type { AdmittedUrl, AdmitUrlOptions, HostResolver, ResolvedAddress } from './admission.js';
export { admitUrl, systemResolver } from './admission.js';
export type {
  EgressConnector,
  GuardedFetch,
  GuardedFetchOptions,
  GuardedFetchRequest,
  GuardedResponse,
} from './guarded-fetch.js';
export {
  createGuardedFetch,
  EGRESS_MAX_BYTES,
  EGRESS_MAX_REDIRECTS,
  EGRESS_TIMEOUT_MS,
} from './guarded-fetch.js';
