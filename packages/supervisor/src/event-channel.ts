import { Channel } from '@regionstore/core';

/** The supervisor's bounded event channel: the shared Channel under the name the seed uses. */
export { Channel as EventChannel };
