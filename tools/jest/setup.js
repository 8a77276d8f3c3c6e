// tsyringe needs the Reflect metadata polyfill before any decorated class loads.
require('reflect-metadata');
